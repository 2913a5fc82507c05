#!/usr/bin/env bash
# Build the local control plane's binaries from Go modules, once:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (hack/tools/k8s wrapper)
#   kwok (go install at the pinned version) and kwok's stage configuration.
# Idempotent: nothing is built when $OUT/.stamp matches the pinned versions and Go toolchain.
# Usage: hack/cluster/install.sh [outdir]    (default: $(hack/cluster/bindir.sh))
set -euo pipefail
HACK=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$("$HACK/cluster/bindir.sh")}")
W=$HACK/tools/k8s
# shellcheck source=../versions.env
. "$HACK/versions.env"
WRAPPED=$(awk '$1=="require" && $2=="k8s.io/kubernetes"{print $3; exit} $1=="k8s.io/kubernetes"{print $2; exit}' "$W/go.mod")
if [ "$WRAPPED" != "$K8S_VERSION" ]; then
  echo "install: hack/versions.env pins Kubernetes $K8S_VERSION but $W/go.mod requires $WRAPPED;" >&2
  echo "         run: hack/tools/mkwrapper.sh $K8S_VERSION hack/tools/k8s" >&2
  exit 1
fi
STAMP="k8s=$K8S_VERSION kwok=$KWOK_VERSION go=$(go env GOVERSION)"
BINS="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwok-stages.yaml"
complete() { for b in $BINS; do [ -s "$OUT/$b" ] || return 1; done; }
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && complete; then
  echo "control-plane binaries up to date in $OUT"; exit 0
fi
[ -f "$OUT/.stamp" ] && echo "install: cache in $OUT is stale or incomplete; rebuilding"
rm -f "$OUT/.stamp"
mkdir -p "$OUT"
T0=$(date +%s); t=$T0
MIN=$(echo "$K8S_VERSION" | cut -d. -f2)
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MIN -X $p.gitTreeState=clean"
done
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" GOWORK=off
(cd "$W" && go mod download)
echo "install: download $(( $(date +%s) - t ))s"; t=$(date +%s)
# one go build for the four Kubernetes commands: they share most of the package graph
(cd "$W" && go build -trimpath -ldflags "$LD" -o "$OUT/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
echo "install: build kubernetes $(( $(date +%s) - t ))s"; t=$(date +%s)
(cd "$W" && go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3)
echo "install: build etcd $(( $(date +%s) - t ))s"; t=$(date +%s)
GOFLAGS=-buildvcs=false GOBIN="$OUT" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
echo "install: build kwok $(( $(date +%s) - t ))s"
KD=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
# kwok's own node stages and pod deletion; the pod lifecycle stages are the project's
# (hack/cluster/pod-stages.yaml), added when a cluster starts.
for f in "$KD"/kustomize/stage/node/fast/node-initialize.yaml \
         "$KD"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         "$KD"/kustomize/stage/pod/fast/pod-delete.yaml; do echo "---"; cat "$f"; done > "$OUT/kwok-stages.yaml"
echo "$STAMP" > "$OUT/.stamp"
echo "install: control-plane binaries built in $(( $(date +%s) - T0 ))s into $OUT"
