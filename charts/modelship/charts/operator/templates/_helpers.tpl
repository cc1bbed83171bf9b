{{/* Helpers of the operator subchart (prometheus-community style: name, fullname, labels, selectorLabels). */}}

{{/* Chart name, 63 characters at most. */}}
{{- define "operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-operator (the name the other charts and the docs rely on), or fullnameOverride. */}}
{{- define "operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "operator.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: name + instance only. */}}
{{- define "operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels (app.kubernetes.io/* only). */}}
{{- define "operator.labels" -}}
{{ include "operator.selectorLabels" . }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: modelship
app.kubernetes.io/version: {{ include "operator.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Service account name. */}}
{{- define "operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image tag: the chart's own, else global.image.tag, else appVersion; `latest` is refused. */}}
{{- define "operator.imageTag" -}}
{{- $global := (.Values.global | default dict) }}
{{- $tag := .Values.image.tag | default (($global.image | default dict).tag) | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "operator: the image tag must be pinned, not `latest` (set operator.image.tag or global.image.tag)" }}
{{- end }}
{{- $tag }}
{{- end }}

{{/* Full image reference. */}}
{{- define "operator.image" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "operator.imageTag" .) }}
{{- end }}

{{/* Image pull policy. */}}
{{- define "operator.imagePullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global | default dict).image | default dict).pullPolicy | default "IfNotPresent" }}
{{- end }}

{{/* MLflow tracking URI. */}}
{{- define "operator.mlflowTrackingUri" -}}
{{- .Values.mlflowTrackingUri | default (printf "http://%s-mlflow:5000" .Release.Name) }}
{{- end }}

{{/* Namespaces watched in namespaced mode (the release namespace when none are listed). */}}
{{- define "operator.namespaces" -}}
{{- $nss := .Values.watch.namespaces | default (list .Release.Namespace) }}
{{- range $nss }}
{{- if regexMatch "[*?\\[]" . }}
{{- fail (printf "operator.watch.namespaces: %q is a glob; the chart can only create Roles in named namespaces (use operator.watch.allNamespaces=true)" .) }}
{{- end }}
{{- end }}
{{- toJson $nss }}
{{- end }}

{{/* Name of the webhook HMAC Secret. */}}
{{- define "operator.webhookSecretName" -}}
{{- .Values.webhook.existingSecret | default (printf "%s-webhook" (include "operator.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{/* Full reference of the model server image the operator starts. */}}
{{- define "operator.servingImage" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.serving.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- $tag := .Values.serving.image.tag | default $global.tag | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail "operator: the serving image tag must be pinned, not `latest`" }}
{{- end }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/* The namespaced rules of the operator (everything but CRD discovery). */}}
{{- define "operator.namespacedRules" -}}
# kopf: Kubernetes Events for rollouts and handler errors
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# the CRDs: watch, create one InferenceService per model, kopf's progress annotations (patch)
- apiGroups: [modelship.io]
  resources: [inferenceservices, modelregistries]
  verbs: [get, list, watch, create, patch]
# the pre-delete hook (python -m modelship_operator.uninstall) deletes the ModelRegistries before the operator goes
- apiGroups: [modelship.io]
  resources: [modelregistries]
  verbs: [delete]
- apiGroups: [modelship.io]
  resources: [inferenceservices/status, modelregistries/status]
  verbs: [get, patch]
{{- if .Values.registry.prune }}
# registry.prune: delete the InferenceServices it created for models no longer tagged for serving
- apiGroups: [modelship.io]
  resources: [inferenceservices]
  verbs: [delete]
{{- end }}
{{- if eq .Values.target "kserve" }}
# children: KServe InferenceServices (deleted through ownerReferences, never by the operator)
- apiGroups: [serving.kserve.io]
  resources: [inferenceservices]
  verbs: [get, list, watch, create, patch]
{{- else }}
# children (deleted by the garbage collector through ownerReferences, never by the operator)
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, create, patch]
{{- end }}
{{- end }}
