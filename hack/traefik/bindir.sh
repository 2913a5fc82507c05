#!/usr/bin/env bash
# Print the cache folder that holds the Traefik binary for the pinned version.
# It lives outside the clone, next to the control plane's binaries, so that CI and later
# sessions on the same machine reuse it.
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/version.env"
echo "${VANE_TRAEFIK_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/vane/traefik-$TRAEFIK_VERSION}"
