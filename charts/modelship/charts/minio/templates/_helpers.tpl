{{/* Helpers of the minio subchart (prometheus-community style). */}}

{{/* Chart name, 63 characters at most; used in the app.kubernetes.io/name label. */}}
{{- define "minio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-minio, the Service and Secret name the other modelship charts rely on, or
fullnameOverride. nameOverride only changes the name label, never this name.
*/}}
{{- define "minio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Chart name and version (the helm.sh/chart convention; kept out of the labels, which are app.kubernetes.io/* only). */}}
{{- define "minio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "minio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "minio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "minio.labels" -}}
{{ include "minio.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/component: object-storage
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "minio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "minio.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag must be pinned. */}}
{{- define "minio.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "minio: image.tag must be pinned, not `latest`" }}
{{- end }}
{{- $registry := .Values.image.registry | default ((.Values.global | default dict).imageRegistry) }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of the pod: the chart's own plus global.imagePullSecrets. */}}
{{- define "minio.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global | default dict).imagePullSecrets | default list) | uniq }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Secret holding `rootUser` and `rootPassword`: auth.existingSecret or the generated <release>-minio. */}}
{{- define "minio.secretName" -}}
{{- .Values.auth.existingSecret | default (include "minio.fullname" .) }}
{{- end }}

{{/* Image reference of the bucket Job (the MinIO client, mc); the tag must be pinned. */}}
{{- define "minio.mcImage" -}}
{{- $img := .Values.buckets.job.image }}
{{- if eq (toString $img.tag) "latest" }}
{{- fail "minio: buckets.job.image.tag must be pinned, not `latest`" }}
{{- end }}
{{- $registry := $img.registry | default ((.Values.global | default dict).imageRegistry) }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) $img.repository (toString $img.tag) }}
{{- else }}
{{- printf "%s:%s" $img.repository (toString $img.tag) }}
{{- end }}
{{- end }}

{{/* In-cluster URL of the S3 API. */}}
{{- define "minio.apiUrl" -}}
{{- printf "http://%s:%v" (include "minio.fullname" .) .Values.service.apiPort }}
{{- end }}
