{{/* Helpers of the gateway subchart (prometheus-community style: name, fullname, labels, selectorLabels). */}}

{{/* Chart name, 63 characters at most. */}}
{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-gateway (the name the other charts and the docs rely on), or fullnameOverride. */}}
{{- define "gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "gateway.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "gateway.labels" -}}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: modelship
app.kubernetes.io/version: {{ include "gateway.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Service account name. */}}
{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: the chart's own, else global.image.tag, else appVersion; `latest` is refused. */}}
{{- define "gateway.imageTag" -}}
{{- $global := (.Values.global | default dict) }}
{{- $tag := .Values.image.tag | default (($global.image | default dict).tag) | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "gateway: the image tag must be pinned, not `latest` (set gateway.image.tag or global.image.tag)" }}
{{- end }}
{{- $tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "gateway.image" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "gateway.imageTag" .) }}
{{- end }}

{{/* Image pull policy. */}}
{{- define "gateway.imagePullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global | default dict).image | default dict).pullPolicy | default "IfNotPresent" }}
{{- end }}

{{/* MLflow tracking URI. */}}
{{- define "gateway.mlflowTrackingUri" -}}
{{- .Values.mlflowTrackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) }}
{{- end }}

{{/* Environment that composes MODELSHIP_DATABASE_URL from the PostgreSQL Secret ($(VAR) expansion in the pod). */}}
{{- define "gateway.databaseEnv" -}}
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

{{/* Image pipeline environment: Kafka (uploads are published to images.uploaded) and the S3 object store, whose
credentials come from the MinIO Secret (secretKeyRef, never a literal). */}}
{{- define "gateway.pipelineEnv" -}}
{{- if .Values.kafka.enabled }}
- name: MODELSHIP_KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | default (printf "%s-kafka:9092" .Release.Name) | quote }}
{{- end }}
{{- if .Values.objectStore.enabled }}
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
{{- else }}
- name: MODELSHIP_OBJECT_STORE
  value: local
- name: MODELSHIP_IMAGE_DIR
  value: /tmp/images
{{- end }}
{{- end }}

{{/* Discovery environment: MODELSHIP_DISCOVERY (kubernetes: the release namespace's InferenceServices; files: the
mounted endpoint files) and the endpoint-files directory when the ConfigMap is mounted. */}}
{{- define "gateway.discoveryEnv" -}}
{{- if and (eq .Values.discovery.source "files") (not .Values.discovery.enabled) }}
{{- fail "gateway: discovery.source=files reads the endpoint-files ConfigMap: set discovery.enabled=true (or discovery.source=kubernetes)" }}
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
