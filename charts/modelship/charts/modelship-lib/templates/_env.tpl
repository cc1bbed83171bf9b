{{/*
Environment of the modelship services (gateway, operator, serving, training, streaming): where MLflow, PostgreSQL,
the object store and the model servers are. Every helper takes the chart's context and reads the chart's own
values (mlflowTrackingUri, database, objectStore, discovery); empty addresses mean the release's own servers.
*/}}

{{/*
MODELSHIP_LOG_FORMAT from global.logFormat (json: one JSON object per line, text: for a terminal, auto: text on a
TTY); nothing when unset, so the images' own default (json) holds.
*/}}
{{- define "modelship-lib.logFormatEnv" -}}
{{- with (.Values.global | default dict).logFormat }}
- name: MODELSHIP_LOG_FORMAT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* MLflow tracking URI: mlflowTrackingUri, else http://<release>-mlflow:5000. */}}
{{- define "modelship-lib.mlflowTrackingUri" -}}
{{- .Values.mlflowTrackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) }}
{{- end }}

{{/* Environment that composes MODELSHIP_DATABASE_URL from the PostgreSQL Secret ($(VAR) expansion in the pod). */}}
{{- define "modelship-lib.databaseEnv" -}}
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

{{/* S3 object store environment: endpoint, bucket, prefix and the credentials from the MinIO Secret (secretKeyRef, never a literal). */}}
{{- define "modelship-lib.objectStoreEnv" -}}
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

{{/*
Discovery environment: MODELSHIP_DISCOVERY (kubernetes: the release namespace's InferenceServices; files: the
mounted endpoint files) and the endpoint-files directory when the ConfigMap is mounted.
*/}}
{{- define "modelship-lib.discoveryEnv" -}}
{{- if and (eq .Values.discovery.source "files") (not .Values.discovery.enabled) }}
{{- fail (printf "%s: discovery.source=files reads the endpoint-files ConfigMap: set discovery.enabled=true (or discovery.source=kubernetes)" .Chart.Name) }}
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
