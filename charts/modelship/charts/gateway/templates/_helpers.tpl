{{/* Helpers of the gateway subchart; the shared ones (names, labels, images, environment) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component gateway; version = the image tag. */}}
{{- define "gateway.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "gateway" "version" (include "modelship-lib.imageTag" .)) }}
{{- end }}

{{/* Image pipeline environment: Kafka (uploads are published to images.uploaded) and the S3 object store, whose
credentials come from the MinIO Secret (secretKeyRef, never a literal). */}}
{{- define "gateway.pipelineEnv" -}}
{{- if .Values.kafka.enabled }}
- name: MODELSHIP_KAFKA_BOOTSTRAP_SERVERS
  value: {{ .Values.kafka.bootstrapServers | default (printf "%s-kafka:9092" .Release.Name) | quote }}
{{- end }}
{{- if .Values.objectStore.enabled }}
{{- include "modelship-lib.objectStoreEnv" . }}
{{- else }}
- name: MODELSHIP_OBJECT_STORE
  value: local
- name: MODELSHIP_IMAGE_DIR
  value: /tmp/images
{{- end }}
{{- end }}
