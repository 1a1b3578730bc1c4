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

{{/* The parsed wsgate.config (empty with existingConfigMap); fails on invalid TOML. */}}
{{- define "wsgate.parsedConfig" -}}
{{- if .Values.wsgate.existingConfigMap }}
{{- dict | toJson }}
{{- else }}
{{- $parsed := fromToml (required "wsgate.config is required (the wsgate TOML configuration)" .Values.wsgate.config) }}
{{- if hasKey $parsed "Error" }}
{{- fail (printf "wsgate.config is not valid TOML: %s" $parsed.Error) }}
{{- end }}
{{- $parsed | toJson }}
{{- end }}
{{- end }}

{{/* Seconds of a duration written "Ns" or "Nm"; -1 for other forms ("1m 30s"), which `wsgate check` validates instead. */}}
{{- define "wsgate.durationSeconds" -}}
{{- $d := . | toString | trim }}
{{- if regexMatch "^[0-9]+s$" $d }}{{ trimSuffix "s" $d | atoi }}
{{- else if regexMatch "^[0-9]+m$" $d }}{{ mul (trimSuffix "m" $d | atoi) 60 }}
{{- else }}-1{{ end }}
{{- end }}

{{/*
Render-time checks of the values against the rendered wsgate config, so a mismatch
fails `helm install` instead of crash-looping probes:
- server.admin_listen's port (default 9090) must be ports.admin: probes and metrics use it;
- server.drain_timeout (default 25s; whole seconds or minutes are checked) must fit in
  terminationGracePeriodSeconds minus wsgate.preStopSleepSeconds, or the kubelet SIGKILLs
  wsgate mid-drain;
- upstream.url: on loopback at app.port in mode wrap and on loopback in mode sidecar (the
  app shares the pod), never on loopback in mode gateway (wsgate's pod holds no app).
With wsgate.existingConfigMap the config is not known at render time: run `wsgate check`.
*/}}
{{- define "wsgate.checks" -}}
{{- if and .Values.wsgate.nativeSidecar (ne .Values.mode "gateway") (semverCompare "<1.29-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "wsgate.nativeSidecar needs Kubernetes >= 1.29 (init containers with restartPolicy Always); this cluster is %s: set wsgate.nativeSidecar=false" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- if and (gt (int .Values.wsgate.preStopSleepSeconds) 0) (semverCompare "<1.30-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "wsgate.preStopSleepSeconds needs Kubernetes >= 1.30 (the sleep lifecycle action; the image has no shell); this cluster is %s" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- $config := include "wsgate.parsedConfig" . | fromJson }}
{{- if not .Values.wsgate.existingConfigMap }}
{{- $server := $config.server | default dict }}
{{- $admin := $server.admin_listen | default "0.0.0.0:9090" | toString }}
{{- $adminPort := regexFind "[0-9]+$" $admin }}
{{- if ne $adminPort (toString (int .Values.ports.admin)) }}
{{- fail (printf "ports.admin (%d) and server.admin_listen (%q) in wsgate.config disagree: the probes and the metrics scrape would miss wsgate's admin listener. Make them the same port." (int .Values.ports.admin) $admin) }}
{{- end }}
{{- $budget := sub (int .Values.terminationGracePeriodSeconds) (int .Values.wsgate.preStopSleepSeconds) | int }}
{{- $drain := include "wsgate.durationSeconds" ($server.drain_timeout | default "25s") | atoi }}
{{- if ge $drain $budget }}
{{- fail (printf "server.drain_timeout (%ds) must be shorter than terminationGracePeriodSeconds (%d) minus wsgate.preStopSleepSeconds (%d); lower drain_timeout or raise the grace period" $drain (int .Values.terminationGracePeriodSeconds) (int .Values.wsgate.preStopSleepSeconds)) }}
{{- end }}
{{- $upstream := (($config.upstream | default dict).url | default "") | toString }}
{{- $loopback := regexMatch "^wss?://(127\\.0\\.0\\.1|localhost|\\[::1\\])(:|/|$)" $upstream }}
{{- if eq .Values.mode "wrap" }}
{{- $want := printf ":%d" (int .Values.app.port) }}
{{- if not (and $loopback (regexMatch (printf "^wss?://[^/]*%s(/|$)" $want) $upstream)) }}
{{- fail (printf "mode wrap: upstream.url (%q) must point at the app in the same pod, ws://127.0.0.1:%d (app.port)" $upstream (int .Values.app.port)) }}
{{- end }}
{{- else if and (eq .Values.mode "sidecar") (not $loopback) }}
{{- fail (printf "mode sidecar: upstream.url (%q) must point at your app in the same pod, on loopback, e.g. ws://127.0.0.1:8000" $upstream) }}
{{- else if and (eq .Values.mode "gateway") $loopback }}
{{- fail (printf "mode gateway: upstream.url (%q) is loopback, but wsgate's pod holds no app: point it at your app's Service, e.g. ws://chat.default.svc.cluster.local:8000" $upstream) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels of the pods the client-facing Services and policies select. */}}
{{- define "wsgate.podSelector" -}}
{{- if eq .Values.mode "sidecar" }}
{{- required "sidecar.podSelector is required in mode sidecar: the labels of your Deployment's pods" .Values.sidecar.podSelector | toYaml }}
{{- else }}
{{- include "wsgate.selectorLabels" . }}
{{- end }}
{{- end }}

{{/* Name of the config volume in the pod ("wsgate-config": unlikely to clash with an app's). */}}
{{- define "wsgate.configVolume" -}}
- name: wsgate-config
  configMap:
    name: {{ include "wsgate.configMapName" . }}
{{- range .Values.wsgate.secretVolumes }}
- name: wsgate-secret-{{ required "wsgate.secretVolumes[].name is required" .name }}
  secret:
    secretName: {{ required "wsgate.secretVolumes[].secretName is required" .secretName }}
{{- end }}
{{- end }}

{{/*
The wsgate container. With wsgate.nativeSidecar it is meant for initContainers:
restartPolicy Always makes it a native sidecar (Kubernetes >= 1.29), started before
the app and stopped after it.
*/}}
{{- define "wsgate.container" -}}
- name: wsgate
  image: {{ include "wsgate.imageRef" (list .Values.image .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if and .Values.wsgate.nativeSidecar (ne .Values.mode "gateway") }}
  restartPolicy: Always
  {{- end }}
  args: ["run", "--config", "/etc/wsgate/config.toml"]
  ports:
    - name: wsgate-http
      containerPort: {{ int .Values.ports.proxy }}
      protocol: TCP
    - name: wsgate-admin
      containerPort: {{ int .Values.ports.admin }}
      protocol: TCP
  env:
    # Overrides the port of server.listen, so it always matches containerPort.
    - name: PORT
      value: {{ int .Values.ports.proxy | quote }}
    {{- range .Values.wsgate.secrets }}
    - name: {{ required "wsgate.secrets[].name is required" .name }}
      valueFrom:
        secretKeyRef:
          name: {{ required "wsgate.secrets[].secretName is required" .secretName }}
          key: {{ required "wsgate.secrets[].key is required" .key }}
    {{- end }}
    {{- with .Values.wsgate.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if gt (int .Values.wsgate.preStopSleepSeconds) 0 }}
  lifecycle:
    preStop:
      # Native sleep action (Kubernetes >= 1.30): the distroless image has no shell.
      sleep:
        seconds: {{ int .Values.wsgate.preStopSleepSeconds }}
  {{- end }}
  {{- with .Values.wsgate.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.wsgate.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.wsgate.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.wsgate.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.wsgate.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    # A directory mount, not subPath: only directory mounts see ConfigMap updates.
    - name: wsgate-config
      mountPath: /etc/wsgate
      readOnly: true
    {{- range .Values.wsgate.secretVolumes }}
    - name: wsgate-secret-{{ .name }}
      mountPath: {{ required "wsgate.secretVolumes[].mountPath is required" .mountPath }}
      readOnly: true
    {{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when the rendered config changes. */}}
{{- define "wsgate.configChecksum" -}}
{{- if and .Values.wsgate.rollOnConfigChange (not .Values.wsgate.existingConfigMap) -}}
checksum/wsgate-config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}
{{- end }}
