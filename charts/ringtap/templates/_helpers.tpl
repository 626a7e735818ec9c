{{/*
The prefix of every object's name. "ringtap" unless fullnameOverride says otherwise, so that
a default install has the names operator/src/rbac.ts and the docs use (ringtap-view, ...).
*/}}
{{- define "ringtap.fullname" -}}
{{- default "ringtap" .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "ringtap.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: ringtap
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels. app.kubernetes.io/name=ringtap-agent is how the CLI finds agent pods. */}}
{{- define "ringtap.operatorSelector" -}}
app.kubernetes.io/name: ringtap-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "ringtap.agentSelector" -}}
app.kubernetes.io/name: ringtap-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ringtap.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
