{{/* Helpers of the operator subchart; the shared ones (names, labels, images, environment) are in the modelship-lib library. */}}

{{/* Common labels: the library's (app.kubernetes.io/* only) with component operator; version = the image tag. */}}
{{- define "operator.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "component" "operator" "version" (include "modelship-lib.imageTag" .)) }}
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
{{- .Values.webhook.existingSecret | default (printf "%s-webhook" (include "modelship-lib.fullname" .) | trunc 63 | trimSuffix "-") }}
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
