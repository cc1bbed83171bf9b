{{/* Image references. A tag is always pinned: `latest` is refused. */}}

{{/*
Tag of a modelship image (the chart's `image:`): image.tag, else global.image.tag, else the chart's appVersion.
Takes the chart's context.
*/}}
{{- define "modelship-lib.imageTag" -}}
{{- $global := (.Values.global | default dict) }}
{{- $tag := .Values.image.tag | default (($global.image | default dict).tag) | default .Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail (printf "%s: the image tag must be pinned, not `latest` (set %s.image.tag or global.image.tag)" .Chart.Name .Chart.Name) }}
{{- end }}
{{- $tag }}
{{- end }}

{{/* Full reference of a modelship image: [global.image.registry/]image.repository:<imageTag>. Takes the chart's context. */}}
{{- define "modelship-lib.image" -}}
{{- $global := ((.Values.global | default dict).image | default dict) }}
{{- $repo := .Values.image.repository }}
{{- if $global.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $global.registry) $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "modelship-lib.imageTag" .) }}
{{- end }}

{{/* Pull policy: image.pullPolicy, else global.image.pullPolicy, else IfNotPresent. Takes the chart's context. */}}
{{- define "modelship-lib.imagePullPolicy" -}}
{{- .Values.image.pullPolicy | default ((.Values.global | default dict).image | default dict).pullPolicy | default "IfNotPresent" }}
{{- end }}

{{/*
Full reference of an upstream image (postgres, kafka, minio, prometheus, grafana): [registry/]repository:tag, the
registry from the image's own `registry`, else global.imageRegistry; the tag from the image, else the chart's
appVersion (global.image.tag is the modelship images' tag, never theirs).
Args: dict "context" <chart context> "image" <map with registry, repository, tag> "key" <its values path, for errors>.
*/}}
{{- define "modelship-lib.upstreamImage" -}}
{{- $ctx := .context }}
{{- $tag := .image.tag | default $ctx.Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail (printf "%s: %s.tag must be pinned, not `latest`" $ctx.Chart.Name .key) }}
{{- end }}
{{- $registry := .image.registry | default (($ctx.Values.global | default dict).imageRegistry) }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* imagePullSecrets of a pod: the chart's own imagePullSecrets plus global.imagePullSecrets. Takes the chart's context. */}}
{{- define "modelship-lib.imagePullSecrets" -}}
{{- $secrets := concat (.Values.imagePullSecrets | default list) ((.Values.global | default dict).imagePullSecrets | default list) | uniq }}
{{- with $secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
