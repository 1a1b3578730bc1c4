{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "wsgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name for every resource of the release. */}}
{{- define "wsgate.fullname" -}}
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

{{- define "wsgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "wsgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wsgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "wsgate.labels" -}}
helm.sh/chart: {{ include "wsgate.chart" . }}
{{ include "wsgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ConfigMap holding config.toml: rendered by this chart, or an existing one. */}}
{{- define "wsgate.configMapName" -}}
{{- if .Values.wsgate.existingConfigMap }}
{{- .Values.wsgate.existingConfigMap }}
{{- else }}
{{- printf "%s-config" (include "wsgate.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* "repository:tag" or "repository@digest" from an image block; tag defaults to $default. */}}
{{- define "wsgate.imageRef" -}}
{{- $image := index . 0 }}
{{- $default := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $default $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Refuse to render when server.drain_timeout (in whole seconds, "Ns") does not fit in the
grace period left after the preStop sleep: the kubelet would SIGKILL wsgate mid-drain.
Absent means wsgate's default, 25 s. Other duration forms ("1m 30s") are not checked here;
`wsgate check` still validates them.
*/}}
{{- define "wsgate.checkDrain" -}}
{{- $config := .Values.wsgate.config | default "" }}
{{- $budget := sub (int .Values.terminationGracePeriodSeconds) (int .Values.wsgate.preStopSleepSeconds) | int }}
{{- $drain := -1 }}
{{- $line := regexFind "(?m)^[ \\t]*drain_timeout[ \\t]*=[ \\t]*\"[0-9]+s\"" $config }}
{{- if $line }}
{{- $drain = regexFind "[0-9]+" (regexFind "\"[0-9]+s\"" $line) | atoi }}
{{- else if not (regexMatch "(?m)^[ \\t]*drain_timeout[ \\t]*=" $config) }}
{{- $drain = 25 }}
{{- end }}
{{- if and (not .Values.wsgate.existingConfigMap) (ge $drain $budget) }}
{{- fail (printf "server.drain_timeout (%ds) must be shorter than terminationGracePeriodSeconds (%d) minus wsgate.preStopSleepSeconds (%d); lower drain_timeout or raise the grace period" $drain (int .Values.terminationGracePeriodSeconds) (int .Values.wsgate.preStopSleepSeconds)) }}
{{- end }}
{{- end }}
