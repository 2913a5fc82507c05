package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// refNameAnnotation names an image in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// writeIndex makes the multi-platform index of images, writes it as the OCI layout out/oci
// (replacing an older one) and as the archive out/vane.oci.tar, and returns its digest.
func writeIndex(o *buildOptions, images []platformImage, sum *summary) (v1.Hash, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, pi := range images {
		p := pi.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi.image, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx = mutate.Annotations(idx, o.labels()).(v1.ImageIndex)
	dir := filepath.Join(o.out, "oci")
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, fmt.Errorf("clearing %s: %w", dir, err)
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("creating the layout %s: %w", dir, err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: o.tag})); err != nil {
		return v1.Hash{}, fmt.Errorf("writing the layout %s: %w", dir, err)
	}
	for _, pi := range images {
		ps, err := describe(pi)
		if err != nil {
			return v1.Hash{}, err
		}
		sum.Platforms = append(sum.Platforms, ps)
	}
	if err := archive(dir, filepath.Join(o.out, "vane.oci.tar"), o.created); err != nil {
		return v1.Hash{}, err
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("index digest: %w", err)
	}
	return d, nil
}

func describe(pi platformImage) (platformSummary, error) {
	d, err := pi.image.Digest()
	if err != nil {
		return platformSummary{}, fmt.Errorf("digest for %s: %w", pi.platform, err)
	}
	layers, err := pi.image.Layers()
	if err != nil {
		return platformSummary{}, fmt.Errorf("layers for %s: %w", pi.platform, err)
	}
	var size int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return platformSummary{}, fmt.Errorf("layer size for %s: %w", pi.platform, err)
		}
		size += s
	}
	return platformSummary{Platform: pi.platform.String(), Digest: d.String(), LayerBytes: size,
		BinaryFile: relPath(pi.binary), BinarySize: pi.binarySize}, nil
}

// archive writes the layout folder dir as one tar file (an "OCI archive": skopeo's
// oci-archive:, podman load, docker load), entries sorted, with mtime t.
func archive(dir, file string, t time.Time) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("creating %s: %w", file, err)
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return addToArchive(tw, path, filepath.ToSlash(rel), d, t)
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

func addToArchive(tw *tar.Writer, path, name string, d fs.DirEntry, t time.Time) error {
	if d.IsDir() {
		return tw.WriteHeader(&tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t, Format: tar.FormatPAX})
	}
	fi, err := d.Info()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: t, Format: tar.FormatPAX}); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}
