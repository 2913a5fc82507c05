#!/usr/bin/env bash
# Regenerate the wrapper module that builds Traefik from Go modules.
# Usage: hack/traefik/mkwrapper.sh [traefik version]   (default: TRAEFIK_VERSION of hack/versions.env
#                                                       or hack/traefik/version.env)
#
# github.com/traefik/traefik/v3 has replace and exclude directives in its go.mod, which make
# `go install github.com/traefik/traefik/v3/cmd/traefik@v` fail; the wrapper requires Traefik,
# copies those directives and lists the command as a `tool` line, so that `go build` resolves
# the same module graph Traefik's own release does.
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=version.env
. "$DIR/version.env"
TV=${1:-$TRAEFIK_VERSION}
cd "$DIR"
MODFILE=$(go mod download -json "github.com/traefik/traefik/v3@$TV" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module traefikbin"
  echo
  echo "go $(sed -n 's/^go //p' "$MODFILE")"
  echo
  echo "require github.com/traefik/traefik/v3 $TV"
  echo
  # Traefik's replace block and its exclude lines, as they are
  awk '/^replace \($/{on=1} on{print} on && /^\)$/{on=0; print ""}' "$MODFILE"
  grep -E '^exclude ' "$MODFILE" || true
  echo
  echo "tool github.com/traefik/traefik/v3/cmd/traefik"
} > go.mod
GOWORK=off GOFLAGS=-mod=mod go mod tidy
echo "wrote $DIR/go.mod for Traefik $TV"
