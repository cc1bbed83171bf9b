{{/* Helpers of the kafka subchart (prometheus-community style). */}}

{{/* Chart name, 63 characters at most; used in the app.kubernetes.io/name label. */}}
{{- define "kafka.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-kafka, the Service and Secret name the other modelship charts rely on, or
fullnameOverride. nameOverride only changes the name label, never this name.
*/}}
{{- define "kafka.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Chart name and version (the helm.sh/chart convention; kept out of the labels, which are app.kubernetes.io/* only). */}}
{{- define "kafka.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "kafka.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kafka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "kafka.labels" -}}
{{ include "kafka.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | toString | trunc 63 | quote }}
app.kubernetes.io/component: messaging
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "kafka.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kafka.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; the tag must be pinned. */}}
{{- define "kafka.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "kafka: image.tag must be pinned, not `latest`" }}
{{- end }}
{{- $registry := .Values.image.registry | default ((.Values.global | default dict).imageRegistry) }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of the pod: the chart's own plus global.imagePullSecrets. */}}
{{- define "kafka.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global | default dict).imagePullSecrets | default list) | uniq }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Host name in the advertised listener. */}}
{{- define "kafka.advertisedHost" -}}
{{- .Values.listeners.advertisedHost | default (include "kafka.fullname" .) }}
{{- end }}

{{/* Bootstrap address for clients in the release namespace. */}}
{{- define "kafka.bootstrap" -}}
{{- printf "%s:%v" (include "kafka.fullname" .) .Values.listeners.port }}
{{- end }}

{{/* Name of the ConfigMap that keeps the KRaft cluster id. */}}
{{- define "kafka.clusterIdConfigMap" -}}
{{- printf "%s-cluster" (include "kafka.fullname" . | trunc 55) }}
{{- end }}

{{/*
KRaft cluster id: clusterId, else the one an earlier install stored, else a new random one. A Kafka Uuid is 16
bytes in unpadded base64url (22 characters); 21 random alphanumerics plus a last character whose 4 low bits are
zero (A, Q, g or w) decode to exactly 16 bytes.
*/}}
{{- define "kafka.clusterId" -}}
{{- if .Values.clusterId }}
{{- .Values.clusterId }}
{{- else }}
{{- $existing := lookup "v1" "ConfigMap" .Release.Namespace (include "kafka.clusterIdConfigMap" .) }}
{{- if and $existing $existing.data (index $existing.data "clusterId") }}
{{- index $existing.data "clusterId" }}
{{- else }}
{{- printf "%s%s" (randAlphaNum 21) (index (list "A" "Q" "g" "w") (mod (randNumeric 3 | atoi) 4)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* A server.properties key as the KAFKA_* variable the image maps back ("." -> "_", "_" -> "__", "-" -> "___"). */}}
{{- define "kafka.envName" -}}
{{- printf "KAFKA_%s" (. | replace "_" "__" | replace "-" "___" | replace "." "_" | upper) }}
{{- end }}
