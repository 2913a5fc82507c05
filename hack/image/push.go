package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushOptions are the flags of `image push`.
type pushOptions struct {
	out  string
	repo string
	tags string
}

func pushFlags(fs *flag.FlagSet) *pushOptions {
	o := &pushOptions{}
	fs.StringVar(&o.out, "out", "_output/image", "the folder `image build` wrote")
	fs.StringVar(&o.repo, "repo", "", "repository to push to, e.g. ghcr.io/vanedev/vane (credentials: ~/.docker/config.json)")
	fs.StringVar(&o.tags, "tag", "", "comma-separated tags (default: the ref name in the layout)")
	return o
}

// push copies the layout's multi-platform index to the repository, under each tag. The
// index and its images keep their digests, so a manifest pinned to the digest `build`
// printed pulls exactly what was built.
func push(o *pushOptions) error {
	if o.repo == "" {
		return errors.New("push needs -repo (make image-push REGISTRY=...)")
	}
	repo, err := name.NewRepository(o.repo)
	if err != nil {
		return fmt.Errorf("-repo %q: %w", o.repo, err)
	}
	idx, ref, err := readLayout(filepath.Join(o.out, "oci"))
	if err != nil {
		return err
	}
	tags := []string{ref}
	if o.tags != "" {
		tags = strings.Split(o.tags, ",")
	}
	d, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("index digest: %w", err)
	}
	for _, t := range tags {
		tag := repo.Tag(strings.TrimSpace(t))
		if err := remote.WriteIndex(tag, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("pushing %s: %w", tag, err)
		}
		fmt.Printf("image: pushed %s@%s\n", tag, d)
	}
	return nil
}

// readLayout returns the one index of an OCI layout written by `build`, and its ref name.
func readLayout(dir string) (v1.ImageIndex, string, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s (run make image first): %w", dir, err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", dir, err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(im.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s: want one image index, found %d entries", dir, len(im.Manifests))
	}
	desc := im.Manifests[0]
	idx, err := top.ImageIndex(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", dir, err)
	}
	return idx, desc.Annotations[refNameAnnotation], nil
}
