{{/* Labels: app.kubernetes.io/* only; selectors use name + instance only. */}}

{{/* Selector labels. Takes the chart's context. */}}
{{- define "modelship-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelship-lib.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels: the selector labels, the version (63 characters at most), the component (left out when empty),
part-of and managed-by.
Args: dict "context" <chart context> "component" <string> "version" <the image tag the chart runs>.
*/}}
{{- define "modelship-lib.labels" -}}
{{ include "modelship-lib.selectorLabels" .context }}
app.kubernetes.io/version: {{ .version | toString | trunc 63 | quote }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: modelship
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}
