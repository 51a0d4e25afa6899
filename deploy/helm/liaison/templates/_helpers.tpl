{{/* Names and labels shared by every manifest of the chart. */}}
{{- define "liaison.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "liaison.fullname" -}}
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

{{- define "liaison.selectorLabels" -}}
app.kubernetes.io/name: {{ include "liaison.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "liaison.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "liaison.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "liaison.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "liaison.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The gateway's liaison.yaml: the chart's settings, then extraConfig over them. */}}
{{- define "liaison.config" -}}
{{- $v := .Values -}}
{{- $caFiles := list -}}
{{- range $v.tls.clientCAKeys }}{{ $caFiles = append $caFiles (printf "/etc/liaison/client-cas/%s" .) }}{{ end -}}
{{- $crlFiles := list -}}
{{- range $v.tls.crlKeys }}{{ $crlFiles = append $crlFiles (printf "/etc/liaison/crls/%s" .) }}{{ end -}}
{{- $auth := dict "method" $v.vault.auth.method -}}
{{- if $v.vault.auth.mount }}{{ $_ := set $auth "mount" $v.vault.auth.mount }}{{ end -}}
{{- if eq $v.vault.auth.method "kubernetes" }}{{ $_ := set $auth "role" (required "vault.auth.role is required for method kubernetes" $v.vault.auth.role) }}{{ end -}}
{{- if eq $v.vault.auth.method "approle" }}{{ $_ := set $auth "role_id" (required "vault.auth.roleID is required for method approle" $v.vault.auth.roleID) }}{{ end -}}
{{- $vault := dict "address" $v.vault.address "mount" $v.vault.mount "key_name_pattern" $v.vault.keyNamePattern "auto_create" $v.vault.autoCreate "auth" $auth -}}
{{- if $v.vault.caSecret }}{{ $_ := set $vault "ca_file" "/etc/liaison/vault-ca/ca.pem" }}{{ end -}}
{{- $minio := dict "endpoint" $v.minio.endpoint "secure" $v.minio.secure "bucket" $v.minio.bucket "prefix" (default (printf "%s/" $v.gateway.id) $v.minio.prefix) "create_bucket" $v.minio.createBucket "versioning" $v.minio.versioning -}}
{{- if $v.minio.region }}{{ $_ := set $minio "region" $v.minio.region }}{{ end -}}
{{- if $v.minio.caSecret }}{{ $_ := set $minio "ca_file" "/etc/liaison/minio-ca/ca.pem" }}{{ end -}}
{{- $tls := dict "cert" "/etc/liaison/tls/tls.crt" "key" "/etc/liaison/tls/tls.key" "client_cas" $caFiles "min_version" $v.tls.minVersion "reload_interval" $v.tls.reloadInterval -}}
{{- if $crlFiles }}{{ $_ := set $tls "crls" $crlFiles }}{{ end -}}
{{- $officers := dict "require_for" $v.officers.requireFor -}}
{{- if $v.officers.jwksConfigMap }}{{ $_ := set $officers "jwks_dir" "/etc/liaison/jwks" }}{{ end -}}
{{- $cfg := dict
  "gateway_id" $v.gateway.id
  "trust_domain" $v.gateway.trustDomain
  "listen" (printf "0.0.0.0:%v" $v.gateway.port)
  "admin_listen" (printf "0.0.0.0:%v" $v.gateway.adminPort)
  "tls" $tls
  "officers" $officers
  "keys" (dict "provider" "vault" "vault" $vault)
  "store" (dict "backend" "minio" "minio" $minio)
  "index" (dict "backend" "postgres" "postgres" (dict "max_conns" $v.index.maxConns))
  "signing" (dict "key" (printf "/etc/liaison/signing/%s" $v.signing.key))
  "audit" (dict "path" "/var/lib/liaison/audit")
  "log" (dict "format" "json" "level" $v.gateway.logLevel)
-}}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy $v.extraConfig)) -}}
{{- end -}}
