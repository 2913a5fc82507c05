#!/usr/bin/env bash
# Print the cache folder that holds Argo Rollouts' controller and kubectl plugin, built from the
# pinned module. It lives outside the clone so that CI and later sessions reuse it.
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/version.env"
echo "${VANE_ARGO_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/vane/argo-rollouts-$ARGO_ROLLOUTS_VERSION}"
