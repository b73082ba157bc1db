{{- define "javari.labels" -}}
app.kubernetes.io/name: javari
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "javari.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end -}}

{{- define "javari.databaseEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: a Secret with the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.secretKey }}
{{- if .Values.database.migrateSecretKey }}
- name: JAVARI_MIGRATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.migrateSecretKey }}
      optional: true
{{- end }}
- name: RUST_LOG
  value: {{ .Values.log.level | quote }}
- name: JAVARI_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- end -}}
