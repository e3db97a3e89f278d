{{/* Chart name, overridable. */}}
{{- define "dst-load-test.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of the churn/client object names: the release name, plus the
chart name unless the release name already holds it. */}}
{{- define "dst-load-test.fullname" -}}
{{- $name := include "dst-load-test.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "dst-load-test.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "dst-load-test.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dstload
{{- end -}}

{{/* Selector labels of one component; call with (list $ "churn"). */}}
{{- define "dst-load-test.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "dst-load-test.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* The label selector (k8s string form) that picks the target Services
and Deployments; churn and client are given it. */}}
{{- define "dst-load-test.targetSelector" -}}
app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=target
{{- end -}}

{{- define "dst-load-test.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Name of a component's ServiceAccount, Role, Deployment; call with
(list $ "churn"). */}}
{{- define "dst-load-test.componentName" -}}
{{- printf "%s-%s" (include "dst-load-test.fullname" (index . 0)) (index . 1) -}}
{{- end -}}

{{/* Downward-API environment: what the client builds Linkerd's context
token from ({"ns":..,"nodeName":..,"pod":..}), and what names the
process in logs and records. */}}
{{- define "dst-load-test.downwardEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end -}}

{{/* Container hardening shared by churn and client. */}}
{{- define "dst-load-test.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Admin port (/metrics, /records, ...), probes on /live and /ready. */}}
{{- define "dst-load-test.adminPortAndProbes" -}}
ports:
  - name: admin
    containerPort: {{ .Values.admin.port }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /live
    port: admin
  periodSeconds: 10
readinessProbe:
  httpGet:
    path: /ready
    port: admin
  periodSeconds: 5
{{- end -}}
