{{/* Common labels for every object of the chart. */}}
{{- define "outrigger.labels" -}}
app.kubernetes.io/name: outrigger
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: outrigger
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The API groups Outrigger serves as CRDs. */}}
{{- define "outrigger.groups" -}}
- apps.openshift.io
- build.openshift.io
- image.openshift.io
- route.openshift.io
- project.openshift.io
- template.openshift.io
{{- end -}}

{{/* An image reference for one of Outrigger's binaries: include "outrigger.image" (list . "operator") */}}
{{- define "outrigger.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s/%s/%s:%s" $root.Values.image.registry $root.Values.image.repository (index . 1) $root.Values.image.tag -}}
{{- end -}}
