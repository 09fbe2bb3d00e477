{{/* Names, labels and shared fragments. Nothing here is random: two renders of the same values are byte-identical. */}}

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

{{- define "secretgate.serviceAccountName" -}}
{{- default (include "secretgate.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The CA Secret of the managed mode and the ConfigMap of the webhook spec. */}}
{{- define "secretgate.caSecretName" -}}{{ include "secretgate.fullname" . }}-ca{{- end -}}
{{- define "secretgate.webhooksConfigMapName" -}}{{ include "secretgate.fullname" . }}-webhooks{{- end -}}

{{/* Whether the chart runs the server in the cluster (false with externalServer.url). */}}
{{- define "secretgate.inCluster" -}}
{{- if not .Values.externalServer.url }}true{{ end -}}
{{- end -}}

{{/* Whether the server runs the managed CA. */}}
{{- define "secretgate.managedCA" -}}
{{- if include "secretgate.inCluster" . -}}
{{- if eq .Values.tls.mode "managed" }}true{{ end -}}
{{- else if not .Values.externalServer.caBundle -}}true
{{- end -}}
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

{{/* The image reference: a digest wins over the tag. */}}
{{- define "secretgate.image" -}}
{{- $repo := required "image.repository is required: no secretgate image is published; build one from the repository's Dockerfile, push it, and set image.repository (see the chart README)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the webhooks skip by name: the release namespace, skipNamespaces, extraSkipNamespaces. */}}
{{- define "secretgate.skippedNamespaces" -}}
{{- concat (list .Release.Namespace) (.Values.webhook.skipNamespaces | default list) (.Values.webhook.extraSkipNamespaces | default list) | uniq | toJson -}}
{{- end -}}

{{/* Namespaces the audit leaves out: audit.skipNamespaces, or (null) what the webhooks skip. */}}
{{- define "secretgate.auditSkippedNamespaces" -}}
{{- if kindIs "slice" .Values.audit.skipNamespaces -}}
{{- .Values.audit.skipNamespaces | toJson -}}
{{- else -}}
{{- include "secretgate.skippedNamespaces" . -}}
{{- end -}}
{{- end -}}

{{/* Namespaces never sent to the webhooks, the opt-out label, and extra expressions. */}}
{{- define "secretgate.namespaceSelector" -}}
{{- $skip := include "secretgate.skippedNamespaces" . | fromJsonArray -}}
{{- $expressions := list (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" $skip) (dict "key" "secretgate.io/ignore" "operator" "NotIn" "values" (list "true")) -}}
{{- $expressions = concat $expressions (.Values.webhook.namespaceSelectorExpressions | default list) -}}
{{- dict "matchExpressions" $expressions | toYaml -}}
{{- end -}}

{{/* clientConfig of a webhook; `path` is passed in. The managed CA and cert-manager's ca.crt are added by the server. */}}
{{- define "secretgate.clientConfig" -}}
{{- if .root.Values.externalServer.url -}}
{{- $url := .root.Values.externalServer.url -}}
{{- if not (hasPrefix "https://" $url) -}}{{- fail "externalServer.url must start with https://" -}}{{- end -}}
url: {{ printf "%s%s" (trimSuffix "/" $url) .path | quote }}
{{- with .root.Values.externalServer.caBundle }}
caBundle: {{ . }}
{{- end }}
{{- else -}}
service:
  name: {{ include "secretgate.fullname" .root }}
  namespace: {{ .root.Release.Namespace }}
  path: {{ .path }}
  port: {{ .root.Values.service.port }}
{{- if eq .root.Values.tls.mode "external" }}
caBundle: {{ required "tls.external.caBundle is required with tls.mode=external" .root.Values.tls.external.caBundle }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* What every webhook shares: selectors and extra matchConditions. */}}
{{- define "secretgate.selectors" -}}
namespaceSelector:
  {{- include "secretgate.namespaceSelector" . | nindent 2 }}
{{- with .Values.webhook.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The background audit's flags of `secretgate serve` (also printed by NOTES.txt for an external server). */}}
{{- define "secretgate.auditArgs" -}}
{{- $fullname := include "secretgate.fullname" . -}}
{{- if .Values.audit.enabled -}}
- --audit-interval={{ .Values.audit.interval }}
- --audit-rate={{ int .Values.audit.ratePerSecond }}
- --audit-page-size={{ int .Values.audit.pageSize }}
- --audit-reports={{ .Values.audit.reports }}
- --audit-report-name={{ $fullname }}
- --audit-report-owner={{ $fullname }}
- --audit-lease={{ $fullname }}-audit
- --audit-skip-namespace={{ include "secretgate.auditSkippedNamespaces" . | fromJsonArray | join "," }}
{{- else -}}
- --audit-interval=0
{{- end -}}
{{- end -}}

{{/*
Whether ConfigMaps go to the webhook: only while configmap-credentials is not
off, at the top level of the policy or in any override.
*/}}
{{- define "secretgate.configmapsChecked" -}}
{{- $p := .Values.policy | default dict -}}
{{- $on := ne (dig "rules" "configmap-credentials" "action" "warn" $p) "off" -}}
{{- range ($p.overrides | default list) -}}
{{- $a := dig "rules" "configmap-credentials" "action" "" . -}}
{{- if and $a (ne $a "off") -}}{{- $on = true -}}{{- end -}}
{{- end -}}
{{- ternary "true" "" $on -}}
{{- end -}}
