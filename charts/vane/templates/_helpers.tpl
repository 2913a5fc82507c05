{{/* The chart's name. */}}
{{- define "vane.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name when it contains the chart's name. */}}
{{- define "vane.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The controller's Deployment, ServiceAccount and (Cluster)Role name. */}}
{{- define "vane.controller" -}}
{{- printf "%s-controller" (include "vane.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vane.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vane.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "vane.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vane.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vane
{{- end }}

{{- define "vane.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vane.controller" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, and @digest when a digest pins it. */}}
{{- define "vane.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/* The controller's rules (config/rbac/role.yaml); namespaced, without the cluster-scoped
ClusterAnalysisTemplates, which get their own ClusterRole. */}}
{{- define "vane.rules" -}}
{{- $rules := (.Files.Get "files/role.yaml" | fromYaml).rules }}
{{- if not $rules }}
{{- fail "files/role.yaml has no rules: the chart must be packaged from the repository (files/ links to config/)" }}
{{- end }}
{{- $out := list }}
{{- range $rules }}
{{- $resources := .resources }}
{{- if $.Values.namespaced }}
{{- $resources = without .resources "clusteranalysistemplates" }}
{{- end }}
{{- if $resources }}
{{- $out = append $out (dict "apiGroups" .apiGroups "resources" $resources "verbs" .verbs) }}
{{- end }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* The webhook's Service, Secret and ValidatingWebhookConfiguration (cluster-scoped: named
after the release and its namespace). */}}
{{- define "vane.webhookService" -}}
{{- printf "%s-webhook" (include "vane.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "vane.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "vane.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "vane.webhookConfiguration" -}}
{{- printf "%s-%s-webhook" (include "vane.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}
