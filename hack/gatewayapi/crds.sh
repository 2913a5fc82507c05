#!/usr/bin/env bash
# The Gateway API CRDs Vane is tested with are those of the sigs.k8s.io/gateway-api module that
# go.mod requires (v1.4.0): its config/crd/standard folder, read from the Go module cache, so
# that the CRDs and the Go types always match and nothing is fetched from elsewhere.
#
# Usage: hack/gatewayapi/crds.sh          print the folder holding the standard-channel CRDs
#        hack/gatewayapi/crds.sh DIR      copy them into DIR (e.g. to kubectl apply -f DIR)
#
# test/e2e finds the same folder with `go list -m` (see gatewayAPICRDs in traffic_test.go).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
VERSION=$(go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)
MODDIR=$(go mod download -json "sigs.k8s.io/gateway-api@$VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
CRDS=$MODDIR/config/crd/standard
[ -d "$CRDS" ] || { echo "crds: $CRDS not found" >&2; exit 1; }
if [ $# -eq 0 ]; then
  echo "$CRDS"
  exit 0
fi
mkdir -p "$1"
cp "$CRDS"/*.yaml "$1"/
chmod u+w "$1"/*.yaml   # the module cache is read-only
echo "copied the Gateway API $VERSION standard CRDs into $1"
