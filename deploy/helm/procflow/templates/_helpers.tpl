{{/*
Labels of a top-level object: the selector labels deploy/kubernetes uses, plus Helm's.
Call with (dict "root" $ "component" "agent"); without a component, the name label alone.
*/}}
{{- define "procflow.labels" -}}
{{- if .component -}}
{{ include "procflow.selectorLabels" .component }}
{{- else -}}
app.kubernetes.io/name: procflow
{{- end }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* Pod and selector labels of a component: exactly those of deploy/kubernetes. */}}
{{- define "procflow.selectorLabels" -}}
app.kubernetes.io/name: procflow
app.kubernetes.io/component: {{ . }}
{{- end }}

{{- define "procflow.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* imagePullPolicy, when one is set. */}}
{{- define "procflow.pullPolicy" -}}
{{- with .Values.image.pullPolicy }}
imagePullPolicy: {{ . }}
{{- end }}
{{- end }}

{{/* The Secret with the tokens and the Elasticsearch connection. */}}
{{- define "procflow.secretName" -}}
{{ .Values.secret.existingSecret | default "procflow" }}
{{- end }}

{{/* http or https, by tls.enabled. */}}
{{- define "procflow.scheme" -}}
{{ ternary "https" "http" .Values.tls.enabled }}
{{- end }}

{{/* The indexer Service's names, for the agents' URL and the indexer certificate. */}}
{{- define "procflow.indexerNames" -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list "procflow-indexer" (printf "procflow-indexer.%s" $ns) (printf "procflow-indexer.%s.svc" $ns) (printf "procflow-indexer.%s.svc.%s" $ns .Values.clusterDomain) -}}
{{- toJson $names -}}
{{- end }}

{{/*
A settings map as command-line flags (a JSON list): `foo_bar: x` is `--foo-bar x`; true is the
bare flag and false `--foo-bar=false`; a list is comma separated; numbers are whole numbers.
*/}}
{{- define "procflow.settingsArgs" -}}
{{- $args := list -}}
{{- range $key, $value := . -}}
{{- $flag := printf "--%s" (replace "_" "-" $key) -}}
{{- if kindIs "bool" $value -}}
{{- $args = append $args (ternary $flag (printf "%s=false" $flag) $value) -}}
{{- else if kindIs "slice" $value -}}
{{- $args = concat $args (list $flag (join "," $value)) -}}
{{- else if or (kindIs "float64" $value) (kindIs "int64" $value) (kindIs "int" $value) -}}
{{- $args = concat $args (list $flag (toString (int64 $value))) -}}
{{- else -}}
{{- $args = concat $args (list $flag (toString $value)) -}}
{{- end -}}
{{- end -}}
{{- toJson $args -}}
{{- end }}

{{/* The Elasticsearch connection of the indexer and setup: environment from the Secrets. */}}
{{- define "procflow.esEnv" -}}
- { name: PROCFLOW_ES_URL, valueFrom: { secretKeyRef: { name: {{ include "procflow.secretName" . }}, key: es-url } } }
- { name: PROCFLOW_ES_USERNAME, valueFrom: { secretKeyRef: { name: {{ include "procflow.secretName" . }}, key: es-username } } }
{{- $ref := .Values.elasticsearch.passwordSecretRef }}
{{- if $ref.name }}
- { name: PROCFLOW_ES_PASSWORD, valueFrom: { secretKeyRef: { name: {{ $ref.name }}, key: {{ required "elasticsearch.passwordSecretRef.key is required with its name: the key of the password in that Secret (ECK: the user's name, e.g. elastic)" $ref.key }} } } }
{{- else }}
- { name: PROCFLOW_ES_PASSWORD, valueFrom: { secretKeyRef: { name: {{ include "procflow.secretName" . }}, key: es-password } } }
{{- end }}
{{- end }}

{{/* --es-ca-file, when elasticsearch.caSecretRef names a Secret. */}}
{{- define "procflow.esCaArgs" -}}
{{- if .Values.elasticsearch.caSecretRef.name -}}
{{- toJson (list "--es-ca-file" "/etc/procflow/es-ca/ca.crt") -}}
{{- else -}}
[]
{{- end -}}
{{- end }}

{{/* --retention-days, when retentionDays is set. */}}
{{- define "procflow.retentionArgs" -}}
{{- if .Values.retentionDays -}}
{{- toJson (list "--retention-days" (toString (int64 .Values.retentionDays))) -}}
{{- else -}}
[]
{{- end -}}
{{- end }}

{{/* The Elasticsearch CA's volume mount and volume (caSecretRef); 0444: a CA certificate is public. */}}
{{- define "procflow.esCaMount" -}}
{{- if .Values.elasticsearch.caSecretRef.name }}
- { name: es-ca, mountPath: /etc/procflow/es-ca, readOnly: true }
{{- end }}
{{- end }}
{{- define "procflow.esCaVolume" -}}
{{- with .Values.elasticsearch.caSecretRef }}
{{- if .name }}
- { name: es-ca, secret: { secretName: {{ .name }}, items: [{ key: {{ .key }}, path: ca.crt }], defaultMode: 292 } }
{{- end }}
{{- end }}
{{- end }}

{{/* The pod scheduling values of a component's values (nodeSelector, tolerations, affinity, priorityClassName). */}}
{{- define "procflow.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "procflow.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* "true" when the agent listens off the node's loopback, where /metrics and /v1/events need the agent API token. */}}
{{- define "procflow.agentListensOutside" -}}
{{- if not (regexMatch "^(127\\.|localhost:|\\[::1\\]:)" (toString .Values.agent.settings.listen)) }}true{{ end }}
{{- end }}
