#!/usr/bin/env bash
# Install the Debian packages the tests use, when missing: tmux (the terminal test of
# `vane get rollout -w`), prometheus (the prometheus metric provider's tests run a real
# server) and chromium (the dashboard's browser tests drive /usr/bin/chromium headless).
# Needs root (apt-get); runs `apt-get update` only when something is missing.
set -euo pipefail
need=()
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "deps: tmux, prometheus and chromium present"
  exit 0
fi
echo "deps: installing ${need[*]}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the prometheus package from starting its own service
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps: installed ${need[*]}"
