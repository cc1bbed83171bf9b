{{/*
Container running a shell script with the Kafka command-line tools against this release's broker, after waiting
(at most topics.job.waitSeconds) until the broker answers. Pass (dict "ctx" $ "name" "..." "script" "...").
*/}}
{{- define "kafka.toolsContainer" -}}
{{- $ctx := .ctx -}}
- name: {{ .name }}
  image: {{ include "modelship-lib.upstreamImage" (dict "context" $ctx "image" $ctx.Values.image "key" "image") | quote }}
  imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
  securityContext:
    {{- toYaml $ctx.Values.containerSecurityContext | nindent 4 }}
  env:
    - name: BOOTSTRAP
      value: {{ include "kafka.bootstrap" $ctx | quote }}
    - name: WAIT_SECONDS
      value: {{ $ctx.Values.topics.job.waitSeconds | quote }}
    # The tools write their logs under LOG_DIR; the root filesystem is read-only.
    - name: LOG_DIR
      value: /tmp/logs
    - name: KAFKA_HEAP_OPTS
      value: "-Xms64m -Xmx256m"
  command:
    - /bin/bash
    - -c
    - |
      set -euo pipefail
      PATH=/opt/kafka/bin:$PATH
      deadline=$(( $(date +%s) + WAIT_SECONDS ))
      until timeout 60 kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "Kafka at $BOOTSTRAP did not answer within ${WAIT_SECONDS}s" >&2
          exit 1
        fi
        sleep 5
      done
      {{- .script | nindent 6 }}
  resources:
    {{- toYaml $ctx.Values.topics.job.resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
