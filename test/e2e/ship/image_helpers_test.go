package ship

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/vanedev/vane/internal/localcluster"
)

// What the test image is stamped with.
const (
	testVersion = "v0.0.0-ship-test"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testDate    = "2026-01-02T03:04:05Z"
)

var (
	imageOnce sync.Once
	imageDir  string
	imageErr  error
)

// repoRoot is the repository's root folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localcluster.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// builtImage builds the image once per test process, as `make image` does (both platforms),
// and returns the folder it was written to.
func builtImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the image; skipped by -short")
	}
	root := repoRoot(t)
	imageOnce.Do(func() { imageDir, imageErr = buildImage(root) })
	if imageErr != nil {
		t.Fatalf("building the image: %v", imageErr)
	}
	return imageDir
}

func buildImage(root string) (string, error) {
	dir, err := os.MkdirTemp("", "vane-ship-image-")
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	out, err := goRun(root, "./hack/image", "build", "-out", dir, "-platforms", "linux/amd64,linux/arm64",
		"-version", testVersion, "-commit", testCommit, "-date", testDate)
	if err != nil {
		return dir, fmt.Errorf("%w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "ship: image built in %.1fs (%s)\n", time.Since(t0).Seconds(), dir)
	return dir, nil
}

// cleanupImage removes the image folder after the tests.
func cleanupImage() {
	if imageDir != "" {
		_ = os.RemoveAll(imageDir)
	}
}

// goRun runs `go run PKG ARGS...` in the repository and returns its combined output.
func goRun(root, pkg string, args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"run", pkg}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("go run %s %s: %w", pkg, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// readIndex reads the multi-platform index from the image folder's OCI layout, and the ref
// name the layout records for it.
func readIndex(t *testing.T, dir string) (v1.ImageIndex, string) {
	t.Helper()
	lp, err := layout.FromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("layout index.json: want 1 entry, got %d", len(im.Manifests))
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx, im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
}

// platformImage returns the index's image for os/arch.
func platformImage(t *testing.T, idx v1.ImageIndex, os, arch string) v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == os && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no image for %s/%s in the index", os, arch)
	return nil
}

// layerFile is one entry of an image's filesystem.
type layerFile struct {
	hdr  tar.Header
	body []byte
}

// imageFiles flattens the image's layers into its filesystem, by path.
func imageFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]layerFile{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = layerFile{hdr: *h, body: body}
	}
}

var (
	binaryOnce sync.Once
	binaryPath string
)

// hostBinary extracts /vane from the image of this machine's platform, once.
func hostBinary(t *testing.T) string {
	t.Helper()
	dir := builtImage(t)
	binaryOnce.Do(func() {
		idx, _ := readIndex(t, dir)
		f, ok := imageFiles(t, platformImage(t, idx, "linux", runtime.GOARCH))["vane"]
		if !ok {
			return
		}
		p := filepath.Join(dir, "extracted", "vane")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.body, 0o755); err != nil {
			t.Fatal(err)
		}
		binaryPath = p
	})
	if binaryPath == "" {
		t.Fatal("the image has no /vane")
	}
	return binaryPath
}
