#!/usr/bin/env bash
# Regenerate the wrapper module that builds Argo Rollouts' sample plugins (a metric provider, a
# traffic router and two step plugins, from test/cmd in Argo's published module) for the tests
# that load them into Vane. Argo's go.mod replaces k8s.io/* and a few others; a module that
# requires it must repeat those replace directives, which this script copies.
# Usage: hack/tools/argoplugins/mkmodule.sh    (the version is hack/tools/argo/version.env's)
set -euo pipefail
cd "$(dirname "$0")"
. ../argo/version.env
V=$ARGO_ROLLOUTS_VERSION
export GOWORK=off GOFLAGS=-mod=mod
MODFILE=$(go mod download -json "github.com/argoproj/argo-rollouts@$V" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module argoplugins"
  echo
  echo "go $(sed -n 's/^go //p' "$MODFILE")"
  echo
  echo "require github.com/argoproj/argo-rollouts $V"
  echo
  awk '/^replace \(/{on=1} on{print} on && /^\)/{exit}' "$MODFILE"
  echo
  echo "tool ("
  for p in metrics-plugin-sample trafficrouter-plugin-sample step-plugin-sample step-plugin-e2e; do
    echo "	github.com/argoproj/argo-rollouts/test/cmd/$p"
  done
  echo ")"
} > go.mod
go mod tidy
