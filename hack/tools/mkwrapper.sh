#!/usr/bin/env bash
# Regenerate the wrapper module that builds Kubernetes' own binaries from Go modules.
# Usage: hack/tools/mkwrapper.sh <k8s version, e.g. v1.34.4> <dir, e.g. hack/tools/k8s>
#
# k8s.io/kubernetes replaces its staging modules with ./staging paths, which makes
# `go install k8s.io/kubernetes/cmd/...@v` fail; the wrapper pins each staging module
# k8s.io/<name> to v0.Y.Z instead and lists the commands as `tool` lines.
set -euo pipefail
KV=${1:?kubernetes version}; DIR=${2:?output dir}
SV="v0.${KV#v1.}"
mkdir -p "$DIR"; cd "$DIR"
MODFILE=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module k8sbins"
  echo
  echo "go $(sed -n 's/^go //p' "$MODFILE")"
  echo
  echo "require k8s.io/kubernetes $KV"
  echo
  echo "replace ("
  grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$MODFILE" | awk -v sv="$SV" '{print "\t" $1 " => " $1 " " sv}'
  echo ")"
  echo
  echo "tool ("
  echo "	go.etcd.io/etcd/server/v3"
  for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do echo "	k8s.io/kubernetes/cmd/$c"; done
  echo ")"
} > go.mod
go mod tidy
