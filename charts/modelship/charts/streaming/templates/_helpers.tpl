{{/* Helpers of the streaming subchart; the shared ones (names, labels, images, environment) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component streaming; version = the image tag. */}}
{{- define "streaming.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "streaming" "version" (include "modelship-lib.imageTag" .)) }}
{{- end }}
