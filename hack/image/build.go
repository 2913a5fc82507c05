package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The image's fixed settings.
const (
	// binaryPath is where the binary sits in the image; it is the entrypoint.
	binaryPath = "/vane"
	// nonRoot is the user and group the image runs as (distroless' "nonroot").
	nonRoot = "65532"
	// versionVar receives the version at link time; main.commit and main.buildDate are
	// cmd/vane's.
	versionVar = "github.com/vanedev/vane/internal/version.Version"
)

// buildOptions are the flags of `image build`.
type buildOptions struct {
	out, pkg, platforms, base       string
	version, commit, date           string
	source, licenses, tag, goBinary string
	created                         time.Time
	parsedPlatforms                 []v1.Platform
}

func buildFlags(fs *flag.FlagSet) *buildOptions {
	o := &buildOptions{}
	fs.StringVar(&o.out, "out", "_output/image", "output folder: bin/, oci/, vane.oci.tar, digest, image.json")
	fs.StringVar(&o.pkg, "pkg", "./cmd/vane", "the main package to build")
	fs.StringVar(&o.platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH list")
	fs.StringVar(&o.base, "base", "scratch", `base image: "scratch" (empty) or a reference, e.g. gcr.io/distroless/static-debian12:nonroot`)
	fs.StringVar(&o.version, "version", "dev", "version stamped into the binary and the labels")
	fs.StringVar(&o.commit, "commit", "unknown", "VCS revision stamped into the binary and the labels")
	fs.StringVar(&o.date, "date", "", "build date, RFC 3339 (default: now); also the image's creation time and its files' mtime")
	fs.StringVar(&o.source, "source", "https://github.com/vanedev/vane", "org.opencontainers.image.source")
	fs.StringVar(&o.licenses, "licenses", "NOASSERTION", "org.opencontainers.image.licenses (an SPDX expression)")
	fs.StringVar(&o.tag, "tag", "", "ref name recorded in the OCI layout (default: the version)")
	fs.StringVar(&o.goBinary, "go", "go", "the go command")
	return o
}

// summary is out/image.json: what was built.
type summary struct {
	Version   string            `json:"version"`
	Commit    string            `json:"commit"`
	Created   string            `json:"created"`
	Tag       string            `json:"tag"`
	Digest    string            `json:"digest"`
	Base      string            `json:"base"`
	Platforms []platformSummary `json:"platforms"`
}

// platformSummary describes one platform's image.
type platformSummary struct {
	Platform   string `json:"platform"`
	Digest     string `json:"digest"`
	LayerBytes int64  `json:"layerBytes"`
	BinaryFile string `json:"binaryFile"`
	BinarySize int64  `json:"binarySize"`
}

// build compiles the binaries, assembles the images and writes them out.
func build(o *buildOptions) error {
	t0 := time.Now()
	if err := o.complete(); err != nil {
		return err
	}
	var sum summary
	var images []platformImage
	for _, p := range o.parsedPlatforms {
		t := time.Now()
		bin, err := compile(o, p)
		if err != nil {
			return err
		}
		fmt.Printf("image: built %s for %s in %.1fs\n", relPath(bin), p, time.Since(t).Seconds())
		img, err := assemble(o, p, bin)
		if err != nil {
			return err
		}
		images = append(images, img)
	}
	idx, err := writeIndex(o, images, &sum)
	if err != nil {
		return err
	}
	sum.Version, sum.Commit, sum.Tag, sum.Base = o.version, o.commit, o.tag, o.base
	sum.Created = o.created.Format(time.RFC3339)
	sum.Digest = idx.String()
	if err := writeSummary(o.out, sum); err != nil {
		return err
	}
	fmt.Printf("image: %s %s (%s) in %.1fs\n", relPath(filepath.Join(o.out, "oci")), sum.Digest, o.tag, time.Since(t0).Seconds())
	return nil
}

// complete checks the options and fills in the defaults.
func (o *buildOptions) complete() error {
	o.created = time.Now().UTC().Truncate(time.Second)
	if o.date != "" {
		d, err := time.Parse(time.RFC3339, o.date)
		if err != nil {
			return fmt.Errorf("-date %q: %w", o.date, err)
		}
		o.created = d.UTC()
	}
	if o.tag == "" {
		o.tag = o.version
	}
	for _, s := range strings.Split(o.platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil || p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("-platforms: %q is not OS/ARCH", s)
		}
		o.parsedPlatforms = append(o.parsedPlatforms, *p)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.out, err)
	}
	return nil
}

// compile builds a static binary for p: CGO off, -trimpath, stripped, version stamped.
func compile(o *buildOptions, p v1.Platform) (string, error) {
	bin := filepath.Join(o.out, "bin", p.OS+"_"+p.Architecture, "vane")
	ld := strings.Join([]string{"-s", "-w",
		"-X", versionVar + "=" + o.version,
		"-X", "main.commit=" + o.commit,
		"-X", "main.buildDate=" + o.created.Format(time.RFC3339)}, " ")
	cmd := exec.Command(o.goBinary, "build", "-trimpath", "-ldflags", ld, "-o", bin, o.pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture,
		"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -buildvcs=false"))
	if p.Variant != "" && p.Architecture == "arm" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w", p, err)
	}
	return bin, nil
}

func writeSummary(out string, s summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding image.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "image.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing image.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "digest"), []byte(s.Digest+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing digest: %w", err)
	}
	return nil
}

// relPath shows a path relative to the working folder when it is inside it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
