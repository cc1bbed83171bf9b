{{/* Helpers of the streaming subchart (prometheus-community style: name, fullname, labels, selectorLabels). */}}

{{/* Chart name, 63 characters at most. */}}
{{- define "streaming.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-streaming, or fullnameOverride. */}}
{{- define "streaming.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "streaming.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "streaming.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streaming.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "streaming.labels" -}}
{{ include "streaming.selectorLabels" . }}
app.kubernetes.io/component: streaming
app.kubernetes.io/part-of: modelship
app.kubernetes.io/version: {{ include "streaming.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Service account name. */}}
{{- define "streaming.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "streaming.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: the chart's own, else global.image.tag, else appVersion; `latest` is refused. */}}
{{- define "streaming.imageTag" -}}
{{- $global := (.Values.global | default dict) }}
{{- $tag := .Values.image.tag | default (($global.image | default dict).tag) | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "streaming: the image tag must be pinned, not `latest` (set streaming.image.tag or global.image.tag)" }}
{{- end }}
{{- $tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "streaming.image" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "streaming.imageTag" .) }}
{{- end }}

{{/* Image pull policy. */}}
{{- define "streaming.imagePullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global | default dict).image | default dict).pullPolicy | default "IfNotPresent" }}
{{- end }}

{{/* MLflow tracking URI. */}}
{{- define "streaming.mlflowTrackingUri" -}}
{{- .Values.mlflowTrackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) }}
{{- end }}

{{/* Environment that composes MODELSHIP_DATABASE_URL from the PostgreSQL Secret ($(VAR) expansion in the pod). */}}
{{- define "streaming.databaseEnv" -}}
{{- $secret := .Values.database.secretName | default (printf "%s-postgresql" .Release.Name) }}
{{- $host := .Values.database.host | default (printf "%s-postgresql" .Release.Name) }}
- name: DATABASE_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.database.usernameKey }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.database.passwordKey }}
- name: MODELSHIP_DATABASE_URL
  value: {{ printf "%s://$(DATABASE_USERNAME):$(DATABASE_PASSWORD)@%s:%v/%s" .Values.database.driver $host .Values.database.port .Values.database.name | quote }}
{{- end }}

{{/* Object storage environment: endpoint, bucket and the credentials from the MinIO Secret. */}}
{{- define "streaming.objectStoreEnv" -}}
{{- $secret := .Values.objectStore.secretName | default (printf "%s-minio" .Release.Name) }}
- name: MODELSHIP_OBJECT_STORE
  value: s3
- name: MODELSHIP_S3_ENDPOINT_URL
  value: {{ .Values.objectStore.endpoint | default (printf "http://%s-minio:9000" .Release.Name) | quote }}
- name: MODELSHIP_S3_BUCKET
  value: {{ .Values.objectStore.bucket | quote }}
- name: MODELSHIP_S3_PREFIX
  value: {{ .Values.objectStore.prefix | quote }}
- name: MODELSHIP_S3_CREATE_BUCKET
  value: "false"
- name: MODELSHIP_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.objectStore.accessKeyKey }}
- name: MODELSHIP_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ .Values.objectStore.secretKeyKey }}
{{- end }}

{{/* Discovery environment: MODELSHIP_DISCOVERY (kubernetes: the release namespace's InferenceServices; files: the
mounted endpoint files) and the endpoint-files directory when the ConfigMap is mounted. */}}
{{- define "streaming.discoveryEnv" -}}
{{- if and (eq .Values.discovery.source "files") (not .Values.discovery.enabled) }}
{{- fail "streaming: discovery.source=files reads the endpoint-files ConfigMap: set discovery.enabled=true (or discovery.source=kubernetes)" }}
{{- end -}}
- name: MODELSHIP_DISCOVERY
  value: {{ .Values.discovery.source | quote }}
{{- if eq .Values.discovery.source "kubernetes" }}
- name: MODELSHIP_KUBERNETES_NAMESPACE
  value: {{ .Release.Namespace | quote }}
{{- end }}
{{- if .Values.discovery.enabled }}
- name: MODELSHIP_DISCOVERY_DIR
  value: {{ .Values.discovery.mountPath | quote }}
{{- end }}
{{- end }}
