#!/usr/bin/env bash
# Build Argo Rollouts' sample plugins from the pinned Go module, once, through the wrapper module
# in this folder: metrics-plugin-sample (argoproj/sample-prometheus), trafficrouter-plugin-sample
# (argoproj/sample-nginx), step-plugin-sample and step-plugin-e2e. Vane's plugin tests load them.
# Idempotent: nothing is built when $OUT/.stamp matches the pinned version and Go toolchain.
# Usage: hack/tools/argoplugins/install.sh [outdir]    (default: $(hack/tools/argoplugins/bindir.sh))
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$("$DIR/bindir.sh")}")
. "$DIR/../argo/version.env"
WRAPPED=$(awk '$1=="require" && $2=="github.com/argoproj/argo-rollouts"{print $3; exit} $1=="github.com/argoproj/argo-rollouts"{print $2; exit}' "$DIR/go.mod")
if [ "$WRAPPED" != "$ARGO_ROLLOUTS_VERSION" ]; then
  echo "install: hack/tools/argo/version.env pins Argo Rollouts $ARGO_ROLLOUTS_VERSION but $DIR/go.mod requires $WRAPPED;" >&2
  echo "         run: hack/tools/argoplugins/mkmodule.sh" >&2
  exit 1
fi
PLUGINS="metrics-plugin-sample trafficrouter-plugin-sample step-plugin-sample step-plugin-e2e"
STAMP="argo-rollouts=$ARGO_ROLLOUTS_VERSION go=$(go env GOVERSION) plugins=${PLUGINS// /,}"
complete() { for b in $PLUGINS; do [ -s "$OUT/$b" ] || return 1; done; }
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && complete; then
  echo "argo sample plugins up to date in $OUT"; exit 0
fi
rm -f "$OUT/.stamp"
mkdir -p "$OUT"
T0=$(date +%s)
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" GOWORK=off
(cd "$DIR" && go mod download github.com/argoproj/argo-rollouts)
PKGS=()
for p in $PLUGINS; do PKGS+=("github.com/argoproj/argo-rollouts/test/cmd/$p"); done
(cd "$DIR" && go build -trimpath -ldflags "-s -w" -o "$OUT/" "${PKGS[@]}")
echo "$STAMP" > "$OUT/.stamp"
echo "install: argo sample plugins ($PLUGINS) built in $(( $(date +%s) - T0 ))s into $OUT"
