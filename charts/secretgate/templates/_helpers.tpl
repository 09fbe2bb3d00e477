{{/* Names, labels and shared fragments. */}}

{{- define "secretgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "secretgate.fullname" -}}
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

{{- define "secretgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secretgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "secretgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "secretgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "secretgate.tlsSecretName" -}}
{{- if eq .Values.tls.mode "external" -}}
{{- required "tls.external.secretName is required with tls.mode=external" .Values.tls.external.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "secretgate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The service DNS names the serving certificate must carry. */}}
{{- define "secretgate.dnsNames" -}}
{{- $svc := include "secretgate.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/* Namespaces never sent to the webhooks, and the opt-out label. */}}
{{- define "secretgate.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ prepend .Values.webhook.excludeNamespaces .Release.Namespace | uniq | toJson }}
  - key: secretgate.io/ignore
    operator: NotIn
    values: ["true"]
{{- with .Values.webhook.namespaceSelectorExpressions }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* clientConfig of a webhook; `path` is passed in. */}}
{{- define "secretgate.clientConfig" -}}
{{- if .root.Values.externalServer.url }}
url: {{ printf "%s%s" (trimSuffix "/" .root.Values.externalServer.url) .path | quote }}
caBundle: {{ required "externalServer.caBundle is required with externalServer.url: the base64 PEM CA that signed the server's certificate" .root.Values.externalServer.caBundle }}
{{- else }}
service:
  name: {{ include "secretgate.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: {{ .root.Values.service.port }}
{{- if eq .root.Values.tls.mode "external" }}
caBundle: {{ required "tls.external.caBundle is required with tls.mode=external" .root.Values.tls.external.caBundle }}
{{- else if eq .root.Values.tls.mode "selfSigned" }}
caBundle: {{ index (include "secretgate.selfSignedPair" .root | fromYaml) "ca" }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Whether the chart runs the server in the cluster (false with externalServer.url). */}}
{{- define "secretgate.inCluster" -}}
{{- if not .Values.externalServer.url }}true{{ end -}}
{{- end -}}

{{/*
The self-signed pair, generated once and reused across upgrades: an existing
Secret (via lookup) wins, so `helm upgrade` does not rotate the CA under a
running webhook. Rendered as YAML {ca, crt, key}, each base64.
*/}}
{{- define "secretgate.selfSignedPair" -}}
{{- $secretName := include "secretgate.tlsSecretName" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- if and $existing (index $existing.data "ca.crt") -}}
ca: {{ index $existing.data "ca.crt" }}
crt: {{ index $existing.data "tls.crt" }}
key: {{ index $existing.data "tls.key" }}
{{- else -}}
{{- $cache := .Values._selfSignedCache | default dict -}}
{{- if not (hasKey $cache "ca") -}}
{{- $ca := genCA (printf "%s-ca" (include "secretgate.fullname" .)) (int .Values.tls.selfSigned.validityDays) -}}
{{- $cert := genSignedCert (include "secretgate.fullname" .) nil (include "secretgate.dnsNames" . | fromJsonArray) (int .Values.tls.selfSigned.validityDays) $ca -}}
{{- $_ := set $cache "ca" ($ca.Cert | b64enc) -}}
{{- $_ := set $cache "crt" ($cert.Cert | b64enc) -}}
{{- $_ := set $cache "key" ($cert.Key | b64enc) -}}
{{- $_ := set .Values "_selfSignedCache" $cache -}}
{{- end -}}
ca: {{ $cache.ca }}
crt: {{ $cache.crt }}
key: {{ $cache.key }}
{{- end -}}
{{- end -}}
