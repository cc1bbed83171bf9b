{{/*
Helpers of the serving subchart; the shared ones (names, labels, images, environment) are in the modelship-lib
library. Every helper takes the serving chart's context (.Values, .Release, .Chart); the umbrella chart calls "serving.predictor" with `.Subcharts.serving` so its own `models:` list renders here.
*/}}

{{/* Name of the predictor objects of one model: "<model>-predictor" (the name the operator uses too). */}}
{{- define "serving.predictorName" -}}
{{- printf "%s-predictor" . | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one model's predictor pods: the same the rollout operator puts on the model servers it
creates (name modelship-serving, instance = the model / InferenceService name), so both kinds look alike.
Args: dict "ctx" <serving context> "model" <model>.
*/}}
{{- define "serving.selectorLabels" -}}
app.kubernetes.io/name: modelship-serving
app.kubernetes.io/instance: {{ .model.name }}
{{- end }}

{{/* Common labels of one model's predictor objects. Args: dict "ctx" <serving context> "model" <model>. */}}
{{- define "serving.labels" -}}
{{ include "serving.selectorLabels" . }}
app.kubernetes.io/component: predictor
app.kubernetes.io/part-of: modelship
app.kubernetes.io/version: {{ include "modelship-lib.imageTag" .ctx | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* Labels of chart-wide objects (service account, PodMonitor): the library's, component predictor. */}}
{{- define "serving.chartLabels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "predictor" "version" (include "modelship-lib.imageTag" .)) }}
{{- end }}

{{/*
Deployment + Service of one pinned model version.
Args: dict "ctx" <serving context> "model" <one entry of models:> "where" <text naming the entry in errors>.
*/}}
{{- define "serving.predictor" -}}
{{- $ctx := .ctx }}
{{- $m := .model }}
{{- $where := .where | default "models" }}
{{- if not $m.name }}
{{- fail (printf "%s: every model needs a `name`" $where) }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,41}[a-z0-9])?$" $m.name) }}
{{- fail (printf "%s: model name %q must be a DNS label of at most 43 characters (lower-case letters, digits, '-')" $where $m.name) }}
{{- end }}
{{- if not (hasKey $m "version") }}
{{- if $m.alias }}
{{- fail (printf "%s (%s): only an alias (%q) is given, but the rollout operator is disabled, so nothing resolves aliases; pin a `version` (e.g. version: \"3\") or enable the operator (operator.enabled=true)" $where $m.name $m.alias) }}
{{- else }}
{{- fail (printf "%s (%s): set the model `version` to serve (the rollout operator is disabled)" $where $m.name) }}
{{- end }}
{{- end }}
{{- $version := toString $m.version }}
{{- if not (regexMatch "^[1-9][0-9]*$" $version) }}
{{- fail (printf "%s (%s): version %q must be a registered model version number" $where $m.name $version) }}
{{- end }}
{{- $name := include "serving.predictorName" $m.name }}
{{- $args := dict "ctx" $ctx "model" $m }}
{{- $v := $ctx.Values }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "serving.labels" $args | nindent 4 }}
  annotations:
    modelship.io/model-uri: {{ printf "models:/%s/%s" $m.name $version | quote }}
spec:
  replicas: {{ $m.replicas | default 1 }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "serving.selectorLabels" $args | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "serving.labels" $args | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $v.httpPort | quote }}
        prometheus.io/path: /metrics
        modelship.io/model-uri: {{ printf "models:/%s/%s" $m.name $version | quote }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "modelship-lib.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with ($v.global | default dict).imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      containers:
        - name: kserve-container
          image: {{ include "modelship-lib.image" $ctx }}
          imagePullPolicy: {{ include "modelship-lib.imagePullPolicy" $ctx }}
          args:
            - --model-uri
            - {{ printf "models:/%s/%s" $m.name $version | quote }}
            - --model_name
            - {{ $m.name | quote }}
            - --http_port
            - {{ $v.httpPort | quote }}
            - --grpc_port
            - {{ $v.grpcPort | quote }}
          env:
            - name: MODELSHIP_MLFLOW_TRACKING_URI
              value: {{ include "modelship-lib.mlflowTrackingUri" $ctx | quote }}
            - name: MLFLOW_TRACKING_URI
              value: {{ include "modelship-lib.mlflowTrackingUri" $ctx | quote }}
            - name: MODELSHIP_LOG_LEVEL
              value: {{ $v.logLevel | quote }}
            {{- include "modelship-lib.logFormatEnv" $ctx | nindent 12 }}
            - name: TMPDIR
              value: /tmp
            - name: HOME
              value: /tmp
            {{- with (($v.global | default dict).tracing | default dict).otlpEndpoint }}
            - name: OTEL_EXPORTER_OTLP_ENDPOINT
              value: {{ . | quote }}
            - name: OTEL_SERVICE_NAME
              value: modelship-serving
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: http
              containerPort: {{ $v.httpPort }}
              protocol: TCP
            - name: grpc
              containerPort: {{ $v.grpcPort }}
              protocol: TCP
          startupProbe:
            httpGet:
              path: /v2/health/live
              port: http
            {{- toYaml $v.startupProbe | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /v2/health/live
              port: http
            {{- toYaml $v.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: {{ printf "/v2/models/%s/ready" $m.name }}
              port: http
            {{- toYaml $v.readinessProbe | nindent 12 }}
          resources:
            {{- toYaml ($m.resources | default $v.resources) | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $v.tmpSizeLimit }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace }}
  labels:
    {{- include "serving.labels" $args | nindent 4 }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "serving.selectorLabels" $args | nindent 4 }}
  ports:
    - name: http
      port: {{ $v.httpPort }}
      targetPort: http
      protocol: TCP
    - name: grpc
      port: {{ $v.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
{{- end }}
