#!/usr/bin/env bash
# Print the cache folder that holds Argo Rollouts' sample plugins, built from the pinned module.
# It lives outside the clone so that CI and later sessions reuse it.
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/../argo/version.env"
echo "${VANE_ARGO_PLUGINS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/vane/argo-plugins-$ARGO_ROLLOUTS_VERSION}"
