{{/*
Container that runs a shell script with the MinIO client against this release's MinIO: alias `minio` is
set up first (retried until MinIO answers, at most .Values.buckets.job.waitSeconds). Pass (dict "ctx" $ "name" "..."
"script" "..." "resources" {...}).
*/}}
{{- define "minio.mcContainer" -}}
{{- $ctx := .ctx -}}
- name: {{ .name }}
  image: {{ include "modelship-lib.upstreamImage" (dict "context" $ctx "image" $ctx.Values.buckets.job.image "key" "buckets.job.image") | quote }}
  imagePullPolicy: {{ $ctx.Values.buckets.job.image.pullPolicy }}
  securityContext:
    {{- toYaml $ctx.Values.containerSecurityContext | nindent 4 }}
  env:
    - name: MINIO_URL
      value: {{ include "minio.apiUrl" $ctx | quote }}
    - name: MINIO_ROOT_USER
      valueFrom:
        secretKeyRef:
          name: {{ include "minio.secretName" $ctx }}
          key: rootUser
    - name: MINIO_ROOT_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ include "minio.secretName" $ctx }}
          key: rootPassword
    - name: HOME
      value: /tmp
    - name: WAIT_SECONDS
      value: {{ $ctx.Values.buckets.job.waitSeconds | quote }}
  command:
    - /bin/sh
    - -c
    - |
      set -eu
      mc() { command mc --config-dir /tmp/.mc --no-color "$@"; }
      deadline=$(( $(date +%s) + WAIT_SECONDS ))
      until mc alias set minio "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1 \
          && mc ls minio >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
          echo "MinIO at $MINIO_URL did not answer within ${WAIT_SECONDS}s" >&2
          exit 1
        fi
        sleep 3
      done
      {{- .script | nindent 6 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
