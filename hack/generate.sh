#!/usr/bin/env bash
# Regenerates everything derived from the API types in api/v1alpha1 (Argo Rollouts') and
# api/flagger/v1beta1 (Flagger's):
#   - api/*/zz_generated.deepcopy.go          (controller-gen object)
#   - config/crd/bases/<group>_<plural>.yaml, one file per kind (controller-gen crd)
# and checks that every CRD stays installable with client-side `kubectl apply`.
#
# Usage: bash hack/generate.sh
# Running it twice in a row changes nothing.
#
# CRD size. Client-side `kubectl apply` stores the whole object as JSON in the
# kubectl.kubernetes.io/last-applied-configuration annotation, and the API server
# rejects objects whose annotations exceed 262144 bytes in total. Argo Rollouts'
# own CRDs (~600 KB with descriptions) break this. Vane generates its CRDs with
# crd:maxDescLen=0 (no field descriptions in the schema; docs/api.md and the Go
# doc comments are the reference) which keeps the full, typed PodTemplateSpec /
# JobSpec schemas, so pod templates stay validated by the API server. The
# allowDangerousTypes=true lets float64 fields through: Flagger's metric thresholds are
# fractional numbers (api/v1alpha1 has no float). The check at the end fails the script if a CRD's compact JSON form (what kubectl
# puts in the annotation) gets within 10% of the limit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CRD_DIR=config/crd/bases
go tool controller-gen \
  object:headerFile=hack/boilerplate.go.txt \
  paths=./api/...

# generateEmbeddedObjectMeta=true types the metadata of embedded pod templates
# (labels, annotations, ...); without it the API server would prune the labels
# of spec.template.metadata. Generate into a scratch directory first so that stale files of removed kinds
# disappear and the output directory only changes when the content does.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go tool controller-gen \
  crd:maxDescLen=0,generateEmbeddedObjectMeta=true,allowDangerousTypes=true \
  paths=./api/... \
  output:crd:dir="$tmp"

# RBAC from the +kubebuilder:rbac markers of the controllers and the notifier: the ClusterRole the controller
# needs, nothing more.
go tool controller-gen rbac:roleName=vane-controller paths=./internal/controller/... paths=./internal/notify/... output:rbac:dir="$tmp/rbac"
mkdir -p config/rbac
cmp -s "$tmp/rbac/role.yaml" config/rbac/role.yaml || cp "$tmp/rbac/role.yaml" config/rbac/role.yaml

mkdir -p "$CRD_DIR"
for f in "$CRD_DIR"/*.yaml; do
  [ -e "$f" ] || continue
  [ -e "$tmp/$(basename "$f")" ] || rm -f "$f"
done
for f in "$tmp"/*.yaml; do
  dst="$CRD_DIR/$(basename "$f")"
  if ! cmp -s "$f" "$dst"; then
    cp "$f" "$dst"
  fi
done

# Size report and client-side apply check: TestCRDSizes (api/v1alpha1/crd_test.go)
# measures the compact JSON of each CRD, as kubectl would store it, and fails
# above 90% of the limit; it also runs with the rest of the unit tests.
if ! out=$(go test ./api/v1alpha1/ -run '^TestCRD' -count=1 -v 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$out" | grep -E 'CRD (argoproj|flagger)' | sed 's/^ *crd_test.go:[0-9]*: /  /'
