// Command image ships Vane without a Docker daemon, with go-containerregistry:
//
//	go run ./hack/image build     -out _output/image [-platforms linux/amd64,linux/arm64] [-base scratch] ...
//	go run ./hack/image push      -out _output/image -repo REGISTRY/vane -tag VERSION
//	go run ./hack/image manifests -out dist [-image-dir _output/image] [-repo REGISTRY/vane] [-namespace vane-system]
//
// `build` compiles a static `vane` per platform (CGO off, -trimpath, version stamped with
// -ldflags), puts each in a one-layer OCI image on an empty base (user 65532, no shell, OCI
// labels), and writes the multi-platform index as an OCI layout (out/oci), an OCI archive
// (out/vane.oci.tar) and its digest (out/digest). `push` copies that index to a registry, same
// digest. `manifests` writes dist/install.yaml and dist/namespace-install.yaml from config/
// (CRDs, generated RBAC, manager), the image pinned by the digest `build` wrote when there is
// one. The Makefile's `image`, `image-push` and `manifests` targets run these
// (docs/install.md).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: image build|push|manifests [flags] (see hack/image/main.go)")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	switch cmd {
	case "build":
		o := buildFlags(fs)
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return build(o)
	case "push":
		o := pushFlags(fs)
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return push(o)
	case "manifests":
		o := manifestFlags(fs)
		if err := fs.Parse(rest); err != nil {
			return err
		}
		return writeManifests(o)
	}
	return fmt.Errorf("unknown command %q: want build, push or manifests", cmd)
}
