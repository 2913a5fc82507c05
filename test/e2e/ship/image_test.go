package ship

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestImageConfig reads the image back from its OCI layout: two platforms, each with the
// entrypoint, user, labels and architecture `make image` sets, and a filesystem of exactly
// the static binary and the nonroot user's files: no shell, nothing else.
func TestImageConfig(t *testing.T) {
	dir := builtImage(t)
	idx, ref := readIndex(t, dir)
	if ref != testVersion {
		t.Errorf("layout ref name = %q, want %q", ref, testVersion)
	}
	digest, err := os.ReadFile(filepath.Join(dir, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != strings.TrimSpace(string(digest)) {
		t.Errorf("digest file %q, index digest %s", digest, d)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			img := platformImage(t, idx, "linux", arch)
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != arch {
				t.Errorf("config platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
			}
			c := cf.Config
			if !slices.Equal(c.Entrypoint, []string{"/vane"}) || !slices.Equal(c.Cmd, []string{"controller"}) || c.User != "65532:65532" {
				t.Errorf("entrypoint %q cmd %q user %q, want [/vane] [controller] 65532:65532", c.Entrypoint, c.Cmd, c.User)
			}
			checkLabels(t, c.Labels)
			checkFiles(t, imageFiles(t, img), arch)
		})
	}
}

func checkLabels(t *testing.T, labels map[string]string) {
	t.Helper()
	want := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/vanedev/vane",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testCommit,
		"org.opencontainers.image.created":  testDate,
		"org.opencontainers.image.licenses": "NOASSERTION",
		"org.opencontainers.image.title":    "vane",
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
}

// checkFiles: the filesystem is the binary, /etc/passwd and /etc/group with the nonroot user,
// its home and /tmp; the binary is a static ELF for arch.
func checkFiles(t *testing.T, files map[string]layerFile, arch string) {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"etc", "etc/group", "etc/passwd", "home", "home/nonroot", "tmp", "vane"}
	if !slices.Equal(names, want) {
		t.Errorf("image files %q, want %q (no shell, nothing else)", names, want)
	}
	if p := string(files["etc/passwd"].body); !strings.Contains(p, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", p)
	}
	bin := files["vane"]
	if bin.hdr.Mode&0o111 == 0 {
		t.Errorf("/vane mode %o is not executable", bin.hdr.Mode)
	}
	f, err := elf.NewFile(bytes.NewReader(bin.body))
	if err != nil {
		t.Fatalf("/vane is not an ELF binary: %v", err)
	}
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != machine {
		t.Errorf("/vane is for %s, want %s", f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("/vane is dynamically linked (%s segment): want a static binary (CGO off)", p.Type)
		}
	}
}

// TestImageBinaryVersion runs `vane version` from the image's binary: the version, commit and
// date stamped at link time, the Go version and the API served.
func TestImageBinaryVersion(t *testing.T) {
	bin := hostBinary(t)
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("vane version: %v", err)
	}
	var v struct {
		Version, Commit, BuildDate, GoVersion, Platform string
		APIs                                            []struct {
			GroupVersion string
			Kinds        []string
		}
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("vane version -o json: %v\n%s", err, out)
	}
	if v.Version != testVersion || v.Commit != testCommit || v.BuildDate != testDate || !strings.HasPrefix(v.GoVersion, "go1.") {
		t.Errorf("vane version = %+v, want version %s commit %s date %s", v, testVersion, testCommit, testDate)
	}
	wantKinds := []string{"AnalysisRun", "AnalysisTemplate", "ClusterAnalysisTemplate", "Experiment", "Rollout"}
	if len(v.APIs) != 1 || v.APIs[0].GroupVersion != "argoproj.io/v1alpha1" || !slices.Equal(v.APIs[0].Kinds, wantKinds) {
		t.Errorf("APIs = %+v, want argoproj.io/v1alpha1 %v", v.APIs, wantKinds)
	}
	text, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vane version:\n%s", text)
}

// TestImagePush pushes the built index with `image push` (what make image-push runs) to a
// registry on 127.0.0.1 (go-containerregistry's in-memory one) and pulls it back: same digest.
func TestImagePush(t *testing.T) {
	dir := builtImage(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	repo := strings.TrimPrefix(reg.URL, "http://") + "/vane"
	out, err := goRun(repoRoot(t), "./hack/image", "push", "-out", dir, "-repo", repo, "-tag", testVersion+",latest")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	idx, _ := readIndex(t, dir)
	want, _ := idx.Digest()
	for _, tag := range []string{testVersion, "latest"} {
		ref, err := name.NewTag(repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("pulling %s: %v", ref, err)
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("%s digest %s, want %s", ref, d, want)
		}
	}
	t.Logf("%s", strings.TrimSpace(out))
}
