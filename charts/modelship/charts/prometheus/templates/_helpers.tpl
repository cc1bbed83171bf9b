{{/* Helpers of the prometheus subchart; the shared ones (names, labels, images, ...) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component monitoring; version = the image tag. */}}
{{- define "prometheus.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "monitoring" "version" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Namespaces whose pods are discovered: the release namespace plus scrape.namespaces. */}}
{{- define "prometheus.namespaces" -}}
{{- prepend (.Values.scrape.namespaces | default list) .Release.Namespace | uniq | toJson }}
{{- end }}
