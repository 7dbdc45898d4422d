#!/usr/bin/env bash
# Regenerates prometheusrule.yaml from alertmanager/tracewarden-alerts.yml (the one source of the
# rules). tests/alerting/run.sh fails when the two differ after parsing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../alertmanager/tracewarden-alerts.yml"
{
    cat <<'HEAD'
# Generated from alertmanager/tracewarden-alerts.yml by deploy/kubernetes/update-prometheusrule.sh:
# edit that file and rerun the script. The Prometheus Operator loads these groups into every
# Prometheus whose ruleSelector matches this object's labels.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: tracewarden
  namespace: tracewarden
  labels:
    app.kubernetes.io/name: tracewarden
spec:
HEAD
    # The rules file minus its leading comment block, indented under spec.
    sed -n '/^groups:/,$p' "$src" | sed 's/^\(.\)/  \1/'
} > "$here/prometheusrule.yaml"
