{{/* Names. */}}
{{- define "hybridfed.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridfed.fullname" -}}
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

{{/* The operator's Deployment, Service, roles: <fullname>-operator. */}}
{{- define "hybridfed.operatorName" -}}
{{- printf "%s-operator" (include "hybridfed.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridfed.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hybridfed.operatorName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Lease the operator's leader election uses (fixed in the operator: controllers/leader.py). */}}
{{- define "hybridfed.leaseName" -}}hybridfed-operator{{- end -}}

{{- define "hybridfed.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hybridfed.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hybridfed.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "hybridfed.labels" -}}
helm.sh/chart: {{ include "hybridfed.chart" . }}
{{ include "hybridfed.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hybridfed
{{- end -}}

{{/* registry/repository:tag[@digest] */}}
{{- define "hybridfed.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- $ref := printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* The plurals of the federated kinds, read from the chart's CRDs (all hybridfed.io CRDs but
     memberclusters), as a YAML list: the RBAC follows the CRDs, which follow operator/hybridfed/api. */}}
{{- define "hybridfed.federatedPlurals" -}}
{{- $plurals := list -}}
{{- range $path, $_ := .Files.Glob "crds/*.yaml" -}}
{{- $crd := fromYaml ($.Files.Get $path) -}}
{{- if and (eq $crd.kind "CustomResourceDefinition") (eq $crd.spec.group "hybridfed.io") (ne $crd.spec.names.plural "memberclusters") -}}
{{- $plurals = append $plurals $crd.spec.names.plural -}}
{{- end -}}
{{- end -}}
{{- if not $plurals -}}{{- fail "the chart's crds/ holds no federated CRDs: run hack/sync_chart.py" -}}{{- end -}}
{{- toYaml (sortAlpha $plurals) -}}
{{- end -}}

{{/* Values that cannot be expressed in values.schema.json. */}}
{{- define "hybridfed.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "replicaCount: %d replicas need leaderElection.enabled=true (without it every replica reconciles and they fight); set replicaCount=1 or enable leader election" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled=true (it scrapes the metrics Service)" -}}
{{- end -}}
{{- end -}}
