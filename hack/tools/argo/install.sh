#!/usr/bin/env bash
# Build Argo Rollouts' controller (rollouts-controller) and kubectl plugin (kubectl-argo-rollouts)
# from the pinned Go module, once, through the wrapper module in this folder, and copy Argo's
# CRDs from the same module beside them. The tests that compare Vane with Argo run these.
# Idempotent: nothing is built when $OUT/.stamp matches the pinned version and Go toolchain.
# Usage: hack/tools/argo/install.sh [outdir]    (default: $(hack/tools/argo/bindir.sh))
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$("$DIR/bindir.sh")}")
. "$DIR/version.env"
WRAPPED=$(awk '$1=="github.com/argoproj/argo-rollouts"{print $2; exit} $1=="require" && $2=="github.com/argoproj/argo-rollouts"{print $3; exit}' "$DIR/go.mod")
if [ "$WRAPPED" != "$ARGO_ROLLOUTS_VERSION" ]; then
  echo "install: $DIR/version.env pins Argo Rollouts $ARGO_ROLLOUTS_VERSION but go.mod requires $WRAPPED;" >&2
  echo "         run: hack/tools/argo/mkmodule.sh $ARGO_ROLLOUTS_VERSION" >&2
  exit 1
fi
STAMP="argo-rollouts=$ARGO_ROLLOUTS_VERSION go=$(go env GOVERSION)"
BINS="rollouts-controller kubectl-argo-rollouts crds/rollout-crd.yaml"
complete() { for b in $BINS; do [ -s "$OUT/$b" ] || return 1; done; }
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && complete; then
  echo "argo-rollouts binaries up to date in $OUT"; exit 0
fi
rm -f "$OUT/.stamp"
mkdir -p "$OUT/crds"
T0=$(date +%s)
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" GOWORK=off
(cd "$DIR" && go mod download github.com/argoproj/argo-rollouts)
LD="-s -w -X github.com/argoproj/argo-rollouts/utils/version.version=${ARGO_ROLLOUTS_VERSION#v}"
(cd "$DIR" && go build -trimpath -ldflags "$LD" -o "$OUT/" \
    github.com/argoproj/argo-rollouts/cmd/rollouts-controller \
    github.com/argoproj/argo-rollouts/cmd/kubectl-argo-rollouts)
MD=$(cd "$DIR" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-rollouts)
cp "$MD"/manifests/crds/*.yaml "$OUT/crds/"
chmod -R u+w "$OUT/crds"
echo "$STAMP" > "$OUT/.stamp"
echo "install: argo-rollouts $ARGO_ROLLOUTS_VERSION built in $(( $(date +%s) - T0 ))s into $OUT"
