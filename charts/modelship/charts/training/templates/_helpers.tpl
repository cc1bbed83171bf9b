{{/* Helpers of the training subchart (prometheus-community style: name, fullname, labels, selectorLabels). */}}

{{/* Chart name, 63 characters at most. */}}
{{- define "training.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-training (the name the other charts and the docs rely on), or fullnameOverride. */}}
{{- define "training.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "training.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "training.selectorLabels" -}}
app.kubernetes.io/name: {{ include "training.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "training.labels" -}}
{{ include "training.selectorLabels" . }}
app.kubernetes.io/component: training
app.kubernetes.io/part-of: modelship
app.kubernetes.io/version: {{ include "training.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Service account name. */}}
{{- define "training.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "training.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: the chart's own, else global.image.tag, else appVersion; `latest` is refused. */}}
{{- define "training.imageTag" -}}
{{- $global := (.Values.global | default dict) }}
{{- $tag := .Values.image.tag | default (($global.image | default dict).tag) | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "training: the image tag must be pinned, not `latest` (set training.image.tag or global.image.tag)" }}
{{- end }}
{{- $tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "training.image" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "training.imageTag" .) }}
{{- end }}

{{/* Image pull policy. */}}
{{- define "training.imagePullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global | default dict).image | default dict).pullPolicy | default "IfNotPresent" }}
{{- end }}

{{/* MLflow tracking URI. */}}
{{- define "training.mlflowTrackingUri" -}}
{{- .Values.mlflowTrackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) }}
{{- end }}

{{/* Environment that composes MODELSHIP_DATABASE_URL from the PostgreSQL Secret ($(VAR) expansion in the pod). */}}
{{- define "training.databaseEnv" -}}
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
  serviceAccountName: {{ include "training.serviceAccountName" $ctx }}
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
      image: {{ include "training.image" $ctx }}
      imagePullPolicy: {{ include "training.imagePullPolicy" $ctx }}
      command: ["python", "-m", "modelship_training"]
      args: [{{ .command | quote }}]
      env:
        {{- include "training.databaseEnv" $ctx | nindent 8 }}
        - name: MODELSHIP_MLFLOW_TRACKING_URI
          value: {{ include "training.mlflowTrackingUri" $ctx | quote }}
        - name: MLFLOW_TRACKING_URI
          value: {{ include "training.mlflowTrackingUri" $ctx | quote }}
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
