{{/* Helpers of the minio subchart; the shared ones (names, labels, images, ...) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component object-storage; version = the image tag. */}}
{{- define "minio.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "object-storage" "version" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Secret holding `rootUser` and `rootPassword`: auth.existingSecret or the generated <release>-minio. */}}
{{- define "minio.secretName" -}}
{{- .Values.auth.existingSecret | default (include "modelship-lib.fullname" .) }}
{{- end }}

{{/* In-cluster URL of the S3 API. */}}
{{- define "minio.apiUrl" -}}
{{- printf "http://%s:%v" (include "modelship-lib.fullname" .) .Values.service.apiPort }}
{{- end }}
