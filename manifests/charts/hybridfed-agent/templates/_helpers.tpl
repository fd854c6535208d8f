{{/* Names. */}}
{{- define "hybridfed-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridfed-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hybridfed-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridfed-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hybridfed-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{/* Labels every object of the release carries, but app.kubernetes.io/managed-by (see hybridfed-agent.labels). */}}
{{- define "hybridfed-agent.commonLabels" -}}
helm.sh/chart: {{ include "hybridfed-agent.chart" . }}
{{ include "hybridfed-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: hybridfed
{{- end -}}

{{- define "hybridfed-agent.labels" -}}
{{ include "hybridfed-agent.commonLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* registry/repository:tag[@digest] */}}
{{- define "hybridfed-agent.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- $ref := printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Where the hub kubeconfig is mounted; the agent's --hub-kubeconfig. */}}
{{- define "hybridfed-agent.hubDir" -}}/etc/hybridfed/hub{{- end -}}

{{/* The agent's writable state (the hub token it renews): an emptyDir, the root filesystem is read-only. */}}
{{- define "hybridfed-agent.stateDir" -}}/var/run/hybridfed-agent{{- end -}}

{{/*
  The member identity: `hybridfed join`'s drivers.access.member_access_manifests(<release namespace>,
  .Values.protectedNamespaces), from files/member-access.json (written by hack/gen_agent_chart.py with two
  placeholders, replaced here as text; the same strings as NAMESPACE_PLACEHOLDER and EXTRA_PLACEHOLDER there).
  Returns {"manifests": [...]} as JSON.
*/}}
{{- define "hybridfed-agent.memberAccess" -}}
{{- $nsPlaceholder := "__HYBRIDFED_RELEASE_NAMESPACE__" -}}
{{- $extraPlaceholder := "__HYBRIDFED_EXTRA_PROTECTED__" -}}
{{- $raw := .Files.Get "files/member-access.json" -}}
{{- if not $raw -}}
{{- fail "the chart's files/member-access.json is missing: run `python hack/gen_agent_chart.py`" -}}
{{- end -}}
{{- $text := replace $nsPlaceholder .Release.Namespace $raw -}}
{{- $defaults := (fromJson $text).defaultProtected -}}
{{- if ne (len $defaults) (len (uniq $defaults)) -}}
{{- fail (printf "install the agent in a namespace of its own (e.g. hybridfed-system), not in %s: the agent may not write there" .Release.Namespace) -}}
{{- end -}}
{{- /* access.protected_namespaces: extras already protected, or repeated, are dropped. */ -}}
{{- $extra := list -}}
{{- range .Values.protectedNamespaces -}}
{{- if not (or (has . $defaults) (has . $extra)) -}}{{- $extra = append $extra . -}}{{- end -}}
{{- end -}}
{{- $cel := "" -}}
{{- $csv := "" -}}
{{- range $extra -}}
{{- $cel = printf "%s, '%s'" $cel . -}}
{{- $csv = printf "%s,%s" $csv . -}}
{{- end -}}
{{- $text = replace (printf ", '%s'" $extraPlaceholder) $cel $text -}}
{{- $text = replace (printf ",%s" $extraPlaceholder) $csv $text -}}
{{- if or (contains $nsPlaceholder $text) (contains $extraPlaceholder $text) -}}
{{- fail "files/member-access.json does not match this chart's templates: run `python hack/gen_agent_chart.py`" -}}
{{- end -}}
{{- dict "manifests" (fromJson $text).manifests | toJson -}}
{{- end -}}
