{{/* Helpers of the grafana subchart; the shared ones (names, labels, images, ...) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component dashboards; version = the image tag. */}}
{{- define "grafana.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "dashboards" "version" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Secret holding `admin-user` and `admin-password`: admin.existingSecret or the generated <release>-grafana. */}}
{{- define "grafana.secretName" -}}
{{- .Values.admin.existingSecret | default (include "modelship-lib.fullname" .) }}
{{- end }}

{{/* URL of the Prometheus datasource. */}}
{{- define "grafana.prometheusUrl" -}}
{{- .Values.datasource.url | default (printf "http://%s-prometheus:9090" .Release.Name) }}
{{- end }}
