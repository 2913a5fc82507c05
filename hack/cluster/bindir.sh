#!/usr/bin/env bash
# Print the cache folder that holds the control-plane binaries for the pinned versions.
# It lives outside the clone so that CI and later sessions on the same machine reuse it.
set -euo pipefail
HACK=$(cd "$(dirname "$0")/.." && pwd)
. "$HACK/versions.env"
echo "${VANE_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/vane/k8s-$K8S_VERSION-kwok-$KWOK_VERSION}"
