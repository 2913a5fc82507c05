#!/usr/bin/env bash
# Installs the Prometheus server that the analysis tests run (internal/analysis/provider/prometheus,
# test/e2e/analysis_test.go): Debian's `prometheus` package, only when no prometheus binary is
# there yet. The tests start their own servers on 127.0.0.1 with temporary storage; the package's
# service is not started (nor needed).
#
# Usage: hack/prometheus/install.sh        (root, or a user with sudo)
# VANE_PROMETHEUS=/path/to/prometheus points the tests at another binary and skips the install.
set -euo pipefail

if [ -n "${VANE_PROMETHEUS:-}" ] && [ -x "${VANE_PROMETHEUS}" ]; then
  echo "prometheus: using VANE_PROMETHEUS=${VANE_PROMETHEUS}"
  exit 0
fi
if command -v prometheus >/dev/null 2>&1; then
  echo "prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n1))"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus: not installed, and this is not a Debian-like system (no apt-get)." >&2
  echo "Install a prometheus binary and put it on PATH, or set VANE_PROMETHEUS to its path." >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "prometheus: installing needs root (or sudo)" >&2; exit 1; }
  sudo=(sudo)
fi

# Keep the package from starting its service where an init system would (containers, CI):
# a policy-rc.d that denies every start, only for the length of the install.
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if $own_policy; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

t=$(date +%s)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "prometheus: installed $(prometheus --version 2>&1 | head -n1) in $(( $(date +%s) - t ))s"
