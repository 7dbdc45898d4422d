#!/usr/bin/env bash
# End-to-end alerting test with the real Prometheus and Alertmanager (see e2e.py for what it
# proves). Loopback only; every process it starts is stopped on exit. About 3 minutes, bounded
# by the 2-minute `for` of TracewardenExporterDown. E2E_KEEP=1 keeps the work dir and logs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec python3 "$here/e2e.py" "$@"
