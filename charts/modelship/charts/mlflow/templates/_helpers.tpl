{{/* Helpers of the mlflow subchart; the shared ones (names, labels, images, environment) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component tracking; version = the appVersion. */}}
{{- define "mlflow.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "tracking" "version" .Chart.AppVersion) }}
{{- end }}

{{/* Image reference (modelship image: registry from image.registry, else global.image.registry); pinned tag. */}}
{{- define "mlflow.image" -}}
{{- $tag := .Values.image.tag | toString }}
{{- if or (not $tag) (eq $tag "latest") }}
{{- fail "mlflow: image.tag must be pinned (not empty, not `latest`)" }}
{{- end }}
{{- $globalImage := ((.Values.global | default dict).image | default dict) }}
{{- $registry := .Values.image.registry | default $globalImage.registry }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* PostgreSQL host, port and Secret of the backend store. */}}
{{- define "mlflow.pgHost" -}}
{{- .Values.backendStore.host | default (printf "%s-postgresql" .Release.Name) }}
{{- end }}
{{- define "mlflow.pgSecret" -}}
{{- .Values.backendStore.secretName | default (printf "%s-postgresql" .Release.Name) }}
{{- end }}

{{/* Backend store URI without credentials (libpq takes them from PGUSER/PGPASSWORD). */}}
{{- define "mlflow.backendStoreUri" -}}
{{- printf "%s://%s:%v/%s" .Values.backendStore.driver (include "mlflow.pgHost" .) .Values.backendStore.port .Values.backendStore.database }}
{{- end }}

{{/* S3 endpoint and the Secret with its credentials. */}}
{{- define "mlflow.s3Endpoint" -}}
{{- .Values.artifacts.s3EndpointUrl | default (printf "http://%s-minio:9000" .Release.Name) | trimSuffix "/" }}
{{- end }}
{{- define "mlflow.s3Secret" -}}
{{- .Values.artifacts.secretName | default (printf "%s-minio" .Release.Name) }}
{{- end }}

{{/*
Host headers the server accepts (`--allowed-hosts`, exact names or fnmatch patterns): the Service under each
of its DNS names, with and without a port; localhost for port-forwarding; optionally the private pod networks
(kubelet probes and Prometheus address the pod by IP); plus server.extraAllowedHosts.
*/}}
{{- define "mlflow.allowedHosts" -}}
{{- $svc := include "modelship-lib.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list }}
{{- range $name := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.server.clusterDomain) "localhost" "127.0.0.1" }}
{{- $hosts = append $hosts $name }}
{{- $hosts = append $hosts (printf "%s:*" $name) }}
{{- end }}
{{- $hosts = concat $hosts (list "[::1]" "[[]::1]:*") }}
{{- if .Values.server.allowPrivateNetworks }}
{{- $hosts = append $hosts "10.*" }}
{{- range $i := untilStep 16 32 1 }}
{{- $hosts = append $hosts (printf "172.%d.*" $i) }}
{{- end }}
{{- $hosts = append $hosts "192.168.*" }}
{{- end }}
{{- $hosts = concat $hosts (.Values.server.extraAllowedHosts | default list) }}
{{- join "," ($hosts | uniq) }}
{{- end }}

{{/* Environment shared by the server and its init containers: PostgreSQL (libpq) and S3 (boto3) settings. */}}
{{/*
"true" when the server logs JSON lines: global.logFormat is json, auto or unset (the images' default), as for the
modelship components; "" for text (MLflow's own format).
*/}}
{{- define "mlflow.jsonLogs" -}}
{{- if ne ((.Values.global | default dict).logFormat | default "json") "text" }}true{{ end }}
{{- end }}

{{- define "mlflow.env" -}}
- name: PGHOST
  value: {{ include "mlflow.pgHost" . | quote }}
- name: PGPORT
  value: {{ .Values.backendStore.port | quote }}
- name: PGDATABASE
  value: {{ .Values.backendStore.database | quote }}
- name: PGUSER
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.pgSecret" . }}
      key: {{ .Values.backendStore.usernameKey }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.pgSecret" . }}
      key: {{ .Values.backendStore.passwordKey }}
- name: PGAPPNAME
  value: mlflow
- name: PGCONNECT_TIMEOUT
  value: "10"
- name: MLFLOW_S3_ENDPOINT_URL
  value: {{ include "mlflow.s3Endpoint" . | quote }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.s3Secret" . }}
      key: {{ .Values.artifacts.accessKeyKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mlflow.s3Secret" . }}
      key: {{ .Values.artifacts.secretKeyKey }}
- name: AWS_DEFAULT_REGION
  value: {{ .Values.artifacts.region | quote }}
- name: HOME
  value: /tmp
- name: MLFLOW_DISABLE_TELEMETRY
  value: "true"
{{- end }}
