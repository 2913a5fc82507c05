#!/usr/bin/env bash
# Regenerate the wrapper module that builds Argo Rollouts' own code from its published Go module:
# the golden-file generator (./golden), Argo's controller and its kubectl plugin, used by the
# tests that compare Vane with Argo. Argo's go.mod replaces k8s.io/* and a few others; a module
# that requires it must repeat those replace directives, which this script copies.
# Usage: hack/tools/argo/mkmodule.sh <argo-rollouts version, e.g. v1.10.1>
set -euo pipefail
V=${1:?argo-rollouts version}
cd "$(dirname "$0")"
export GOWORK=off GOFLAGS=-mod=mod
MODFILE=$(go mod download -json "github.com/argoproj/argo-rollouts@$V" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module argotools"
  echo
  echo "go $(sed -n 's/^go //p' "$MODFILE")"
  echo
  echo "require github.com/argoproj/argo-rollouts $V"
  echo
  awk '/^replace \(/{on=1} on{print} on && /^\)/{exit}' "$MODFILE"
  echo
  echo "tool ("
  echo "	github.com/argoproj/argo-rollouts/cmd/kubectl-argo-rollouts"
  echo "	github.com/argoproj/argo-rollouts/cmd/rollouts-controller"
  echo ")"
} > go.mod
go mod tidy
