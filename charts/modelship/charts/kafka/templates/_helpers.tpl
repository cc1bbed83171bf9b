{{/* Helpers of the kafka subchart; the shared ones (names, labels, images, ...) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component messaging; version = the image tag. */}}
{{- define "kafka.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "messaging" "version" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Host name in the advertised listener. */}}
{{- define "kafka.advertisedHost" -}}
{{- .Values.listeners.advertisedHost | default (include "modelship-lib.fullname" .) }}
{{- end }}

{{/* Bootstrap address for clients in the release namespace. */}}
{{- define "kafka.bootstrap" -}}
{{- printf "%s:%v" (include "modelship-lib.fullname" .) .Values.listeners.port }}
{{- end }}

{{/* Name of the ConfigMap that keeps the KRaft cluster id. */}}
{{- define "kafka.clusterIdConfigMap" -}}
{{- printf "%s-cluster" (include "modelship-lib.fullname" . | trunc 55) }}
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
