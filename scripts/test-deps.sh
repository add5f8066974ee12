#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine of this project's kind:
#   - versitygw (S3) from the Go module proxy, into $(go env GOPATH)/bin
#   - Prometheus, Alertmanager, Pushgateway and promtool from Debian packages
#   - the npm packages that type-check the Grafana dashboards (dashboards/package.json)
# It is idempotent: what is present is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test-deps: %s\n' "$*" >&2; }

gobin="$(go env GOPATH)/bin"
if ! command -v versitygw >/dev/null 2>&1 && [ ! -x "$gobin/versitygw" ]; then
  log "installing versitygw v1.8.0"
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
command -v prometheus-pushgateway >/dev/null 2>&1 || need_apt+=(prometheus-pushgateway)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  log "installing ${need_apt[*]} from Debian"
  # The postinst scripts try to start the services; policy-rc.d may refuse, which is fine:
  # tests run their own instances on loopback.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null ||
    { $sudo apt-get update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null; }
fi

if [ -f dashboards/package.json ] && [ ! -d dashboards/node_modules ]; then
  log "installing dashboard type-check packages (npm)"
  (cd dashboards && npm ci --no-audit --no-fund --loglevel=error)
fi
log "ready"
