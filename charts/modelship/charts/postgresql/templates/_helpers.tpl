{{/* Helpers of the postgresql subchart; the shared ones (names, labels, images, ...) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component database; version = the image tag. */}}
{{- define "postgresql.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "database" "version" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Secret holding `username` and `password`: auth.existingSecret or the generated <release>-postgresql. */}}
{{- define "postgresql.secretName" -}}
{{- .Values.auth.existingSecret | default (include "modelship-lib.fullname" .) }}
{{- end }}
