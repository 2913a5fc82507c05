package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platformImage is one platform's image and what went into it.
type platformImage struct {
	platform   v1.Platform
	image      v1.Image
	binary     string
	binarySize int64
}

// Files of the empty base: the nonroot user for tools that resolve names, its home, /tmp.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// assemble puts the binary on the base as one layer and sets the image's config.
func assemble(o *buildOptions, p v1.Platform, bin string) (platformImage, error) {
	base, err := baseImage(o.base, p)
	if err != nil {
		return platformImage{}, err
	}
	mt, err := base.MediaType()
	if err != nil {
		return platformImage{}, fmt.Errorf("base %s: %w", o.base, err)
	}
	layerType := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	data, size, err := layerTar(bin, o.base == "scratch", o.created)
	if err != nil {
		return platformImage{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(layerType))
	if err != nil {
		return platformImage{}, fmt.Errorf("layer for %s: %w", p, err)
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: o.created},
		CreatedBy: "hack/image build: go build -trimpath -ldflags '-s -w -X ...' (CGO_ENABLED=0) " + o.pkg,
		Comment:   "vane " + o.version,
	}})
	if err != nil {
		return platformImage{}, fmt.Errorf("appending the layer for %s: %w", p, err)
	}
	img, err = configure(img, o, p)
	return platformImage{platform: p, image: img, binary: bin, binarySize: size}, err
}

// baseImage is the empty image with OCI media types, or the named image for platform p.
func baseImage(ref string, p v1.Platform) (v1.Image, error) {
	if ref == "scratch" {
		return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), nil
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("-base %q: %w", ref, err)
	}
	img, err := remote.Image(r, remote.WithPlatform(p), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return nil, fmt.Errorf("pulling base %s for %s: %w", ref, p, err)
	}
	return img, nil
}

// configure sets the config: platform, entrypoint, user, labels and creation time.
func configure(img v1.Image, o *buildOptions, p v1.Platform) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config for %s: %w", p, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: o.created}
	cf.Author = ""
	cf.Config.Entrypoint = []string{binaryPath}
	cf.Config.Cmd = []string{"controller"}
	cf.Config.User = nonRoot + ":" + nonRoot
	cf.Config.WorkingDir = "/"
	if cf.Config.Labels == nil {
		cf.Config.Labels = map[string]string{}
	}
	for k, v := range o.labels() {
		cf.Config.Labels[k] = v
	}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("setting the config for %s: %w", p, err)
	}
	return out, nil
}

// labels are the OCI labels (and index annotations) of the image.
func (o *buildOptions) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "vane",
		"org.opencontainers.image.description": "Vane: progressive delivery for Kubernetes, Argo Rollouts-compatible",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.commit,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
		"org.opencontainers.image.licenses":    o.licenses,
	}
}

// layerTar returns the layer's uncompressed tar: the binary, plus on the empty base
// /etc/passwd, /etc/group, /home/nonroot and /tmp. Every entry has mtime t and owner root
// (the home: nonroot), in a fixed order, so that the same binary gives the same layer.
func layerTar(bin string, withBase bool, t time.Time) ([]byte, int64, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, 0, fmt.Errorf("reading %s: %w", bin, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	type entry struct {
		hdr  tar.Header
		body []byte
	}
	var entries []entry
	if withBase {
		entries = append(entries,
			entry{hdr: tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}},
			entry{hdr: tar.Header{Name: "etc/group", Mode: 0o644}, body: []byte(group)},
			entry{hdr: tar.Header{Name: "etc/passwd", Mode: 0o644}, body: []byte(passwd)},
			entry{hdr: tar.Header{Name: "home/", Typeflag: tar.TypeDir, Mode: 0o755}},
			entry{hdr: tar.Header{Name: "home/nonroot/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 65532, Gid: 65532}},
			entry{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}})
	}
	entries = append(entries, entry{hdr: tar.Header{Name: filepath.Base(binaryPath), Mode: 0o755}, body: exe})
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.Format = t, tar.FormatPAX
		if h.Typeflag == 0 {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, 0, fmt.Errorf("layer: %w", err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, 0, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, 0, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), int64(len(exe)), nil
}
