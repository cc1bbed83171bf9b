{{/* Helpers of the training subchart; the shared ones (names, labels, images, environment) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component training; version = the image tag. */}}
{{- define "training.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "training" "version" (include "modelship-lib.imageTag" .)) }}
{{- end }}

{{/*
Pod template of a training run. Args: dict "ctx" <chart context> "command" <penguins|digits|all> "resources" <map>.
*/}}
{{- define "training.podTemplate" -}}
{{- $ctx := .ctx }}
{{- $v := $ctx.Values }}
metadata:
  labels:
    {{- include "training.labels" $ctx | nindent 4 }}
  annotations:
    prometheus.io/scrape: "false"
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ include "modelship-lib.serviceAccountName" $ctx }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with ($v.global | default dict).imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: training
      image: {{ include "modelship-lib.image" $ctx }}
      imagePullPolicy: {{ include "modelship-lib.imagePullPolicy" $ctx }}
      command: ["python", "-m", "modelship_training"]
      args: [{{ .command | quote }}]
      env:
        {{- include "modelship-lib.databaseEnv" $ctx | nindent 8 }}
        - name: MODELSHIP_MLFLOW_TRACKING_URI
          value: {{ include "modelship-lib.mlflowTrackingUri" $ctx | quote }}
        - name: MLFLOW_TRACKING_URI
          value: {{ include "modelship-lib.mlflowTrackingUri" $ctx | quote }}
        - name: MODELSHIP_PROMOTION_MARGIN
          value: {{ $v.promotionMargin | quote }}
        {{- if not (kindIs "invalid" $v.digitsEpochs) }}
        - name: MODELSHIP_DIGITS_EPOCHS
          value: {{ $v.digitsEpochs | quote }}
        {{- end }}
        {{- with $v.gitRevision }}
        - name: MODELSHIP_GIT_REVISION
          value: {{ . | quote }}
        {{- end }}
        - name: MODELSHIP_LOG_LEVEL
          value: {{ $v.logLevel | quote }}
        {{- include "modelship-lib.logFormatEnv" $ctx | nindent 8 }}
        - name: HOME
          value: /tmp
        - name: TMPDIR
          value: /tmp
        - name: MPLCONFIGDIR
          value: /tmp/matplotlib
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.tmpSizeLimit }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
