#!/usr/bin/env bash
# Points every alert's runbook_url at the README where you publish it, e.g.
#   alertmanager/set-runbook-base.sh https://git.example.com/sec/tracewarden/-/blob/main
# gives runbook_url 'https://git.example.com/sec/tracewarden/-/blob/main/README.md#runbook-...'.
# Rewrites alertmanager/tracewarden-alerts.yml, then regenerates the PrometheusRule from it.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BASE_URL (where README.md is published)" >&2; exit 2; }
base=${1%/}
case $base in *"'"* | *'#'* | *' '*) echo "$0: the URL must not contain quotes, '#' or spaces" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
sed -i -E "s#^( +runbook_url: ')[^']*README\.md\##\1$base/README.md\##" "$here/tracewarden-alerts.yml"
"$here/../deploy/kubernetes/update-prometheusrule.sh"
