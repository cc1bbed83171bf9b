{{/*
Names (prometheus-community style). Every helper takes the calling chart's context: include "modelship-lib.fullname" .
*/}}

{{/* Chart name, 63 characters at most; the app.kubernetes.io/name label. */}}
{{- define "modelship-lib.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the chart's objects: fullnameOverride, else <release>-<chart> (the Service and Secret names the other
modelship charts and the docs rely on). nameOverride only changes the name label, never this name.
*/}}
{{- define "modelship-lib.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Chart name and version (the helm.sh/chart convention; kept out of the labels, which are app.kubernetes.io/* only). */}}
{{- define "modelship-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* ServiceAccount name: serviceAccount.name, else the full name when the chart creates it, else "default". */}}
{{- define "modelship-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelship-lib.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
