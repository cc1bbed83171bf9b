{{/* Helpers of the grafana subchart (prometheus-community style). */}}

{{/* Chart name, 63 characters at most; used in the app.kubernetes.io/name label. */}}
{{- define "grafana.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-grafana, the Service and Secret name the other modelship charts rely on, or
fullnameOverride. nameOverride only changes the name label, never this name.
*/}}
{{- define "grafana.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Chart name and version (the helm.sh/chart convention; kept out of the labels, which are app.kubernetes.io/* only). */}}
{{- define "grafana.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "grafana.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grafana.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "grafana.labels" -}}
{{ include "grafana.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/component: dashboards
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "grafana.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "grafana.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag must be pinned. */}}
{{- define "grafana.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "grafana: image.tag must be pinned, not `latest`" }}
{{- end }}
{{- $registry := .Values.image.registry | default ((.Values.global | default dict).imageRegistry) }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of the pod: the chart's own plus global.imagePullSecrets. */}}
{{- define "grafana.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global | default dict).imagePullSecrets | default list) | uniq }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Secret holding `admin-user` and `admin-password`: admin.existingSecret or the generated <release>-grafana. */}}
{{- define "grafana.secretName" -}}
{{- .Values.admin.existingSecret | default (include "grafana.fullname" .) }}
{{- end }}

{{/* URL of the Prometheus datasource. */}}
{{- define "grafana.prometheusUrl" -}}
{{- .Values.datasource.url | default (printf "http://%s-prometheus:9090" .Release.Name) }}
{{- end }}
