#!/usr/bin/env bash
# Build helmtool (render and lint charts/vane with the Helm 4 library) once into
# ~/.cache/vane/helmtool-<helm version>/ (or $1). Its own module: Helm 4 needs newer Kubernetes
# libraries than Vane's. Nothing is built when the stamp matches the Helm version, the Go
# toolchain and the tool's sources. Prints the binary's path on its last line.
# Usage: charts/helmtool/install.sh [outdir]
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
HELM_VERSION=$(awk '$1=="require" && $2=="helm.sh/helm/v4"{print $3; exit} $1=="helm.sh/helm/v4"{print $2; exit}' "$DIR/go.mod")
OUT=$(realpath -m "${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vane/helmtool-$HELM_VERSION}")
SRC=$(cd "$DIR" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)
STAMP="helm=$HELM_VERSION go=$(go env GOVERSION) src=$SRC"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && [ -x "$OUT/helmtool" ]; then
  echo >&2 "helmtool up to date in $OUT"; echo "$OUT/helmtool"; exit 0
fi
mkdir -p "$OUT"; rm -f "$OUT/.stamp"
T0=$(date +%s)
(cd "$DIR" && CGO_ENABLED=0 GOWORK=off GOFLAGS="-buildvcs=false -mod=readonly" go build -trimpath -o "$OUT/helmtool" .)
echo "$STAMP" > "$OUT/.stamp"
echo >&2 "helmtool (Helm $HELM_VERSION) built in $(( $(date +%s) - T0 ))s into $OUT"
echo "$OUT/helmtool"
