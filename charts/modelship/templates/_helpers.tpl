{{/* Helpers of the modelship umbrella chart; the shared ones are in the modelship-lib library (charts/modelship-lib). */}}

{{/* Common labels: the library's (app.kubernetes.io/* only), no component; version = global.image.tag or appVersion. */}}
{{- define "modelship.labels" -}}
{{ include "modelship-lib.labels" (dict "context" . "version" (.Values.global.image.tag | default .Chart.AppVersion)) }}
{{- end }}

{{/* Checks every entry of `models:` the same way in both modes; returns nothing. */}}
{{- define "modelship.validateModels" -}}
{{- $seen := dict }}
{{- range $i, $m := .Values.models }}
{{- $where := printf "models[%d]" $i }}
{{- if not $m.name }}
{{- fail (printf "%s: every model needs a `name`" $where) }}
{{- end }}
{{- if hasKey $seen $m.name }}
{{- fail (printf "%s: model %q is listed twice" $where $m.name) }}
{{- end }}
{{- $_ := set $seen $m.name true }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,41}[a-z0-9])?$" $m.name) }}
{{- fail (printf "%s: model name %q must be a DNS label of at most 43 characters (lower-case letters, digits, '-')" $where $m.name) }}
{{- end }}
{{- if and (not (hasKey $m "version")) (not $m.alias) }}
{{- fail (printf "%s (%s): set an `alias` (e.g. champion) or a `version`" $where $m.name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
URL of a model's predictor Service (also what the operator writes to InferenceService status.url until KServe
reports an address). operator.target=kserve: KServe's predictor Service, which listens on port 80 (KServe maps
it to the container's 8080). Otherwise the modelship predictor Service on 8080.
Call with (dict "ctx" $ "name" <model> "namespace" <namespace>).
*/}}
{{- define "modelship.predictorUrl" -}}
{{- if and .ctx.Values.operator.enabled (eq (toString .ctx.Values.operator.target) "kserve") }}
{{- printf "http://%s-predictor.%s.svc.cluster.local" .name .namespace }}
{{- else }}
{{- printf "http://%s-predictor.%s.svc:8080" .name .namespace }}
{{- end }}
{{- end }}
