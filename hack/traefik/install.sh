#!/usr/bin/env bash
# Build Traefik (the real-traffic end-to-end test's gateway) from Go modules, once, through the
# wrapper module in this folder (see mkwrapper.sh for why a wrapper is needed).
# Idempotent: nothing is built when $OUT/.stamp matches the pinned version and Go toolchain.
# Usage: hack/traefik/install.sh [outdir]    (default: $(hack/traefik/bindir.sh))
# The first build takes about 6 minutes (download included).
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath -m "${1:-$("$DIR/bindir.sh")}")
# shellcheck source=version.env
. "$DIR/version.env"
WRAPPED=$(awk '$1=="github.com/traefik/traefik/v3"{print $2; exit} $1=="require" && $2=="github.com/traefik/traefik/v3"{print $3; exit}' "$DIR/go.mod")
if [ "$WRAPPED" != "$TRAEFIK_VERSION" ]; then
  echo "install: hack/traefik/version.env pins Traefik $TRAEFIK_VERSION but $DIR/go.mod requires $WRAPPED;" >&2
  echo "         run: hack/traefik/mkwrapper.sh" >&2
  exit 1
fi
STAMP="traefik=$TRAEFIK_VERSION go=$(go env GOVERSION)"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && [ -s "$OUT/traefik" ]; then
  echo "traefik up to date in $OUT"; exit 0
fi
[ -f "$OUT/.stamp" ] && echo "install: cache in $OUT is stale or incomplete; rebuilding"
rm -f "$OUT/.stamp"
mkdir -p "$OUT"
T0=$(date +%s); t=$T0
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" GOWORK=off
(cd "$DIR" && go mod download)
echo "install: download $(( $(date +%s) - t ))s"; t=$(date +%s)
LD="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
(cd "$DIR" && go build -trimpath -ldflags "$LD" -o "$OUT/traefik" github.com/traefik/traefik/v3/cmd/traefik)
echo "install: build traefik $(( $(date +%s) - t ))s"
"$OUT/traefik" version | sed 's/^/install:   /'
echo "$STAMP" > "$OUT/.stamp"
echo "install: traefik built in $(( $(date +%s) - T0 ))s into $OUT"
