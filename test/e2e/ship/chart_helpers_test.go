package ship

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	helmToolOnce sync.Once
	helmToolPath string
	helmToolErr  error
)

// helmTool returns charts/helmtool's binary (the Helm 4 library's template and lint), built
// once per machine into ~/.cache/vane by charts/helmtool/install.sh (`make helm-tool`).
func helmTool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Helm library's tool; skipped by -short")
	}
	root := repoRoot(t)
	helmToolOnce.Do(func() {
		t0 := time.Now()
		cmd := exec.Command(filepath.Join(root, "charts", "helmtool", "install.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			helmToolErr = fmt.Errorf("charts/helmtool/install.sh (make helm-tool): %w\n%s", err, stderr.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		helmToolPath = lines[len(lines)-1]
		fmt.Fprintf(os.Stderr, "ship: %s (%.1fs)\n", strings.TrimSpace(stderr.String()), time.Since(t0).Seconds())
	})
	if helmToolErr != nil {
		t.Fatal(helmToolErr)
	}
	return helmToolPath
}

// chartValues is one set of values the chart is rendered with.
type chartValues struct {
	name   string
	values string // a values.yaml
}

// helmArgs writes the values to a file and returns the flags naming it.
func helmArgs(t *testing.T, v chartValues, release, ns string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), v.name+".yaml")
	if err := os.WriteFile(f, []byte(v.values), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-chart", filepath.Join(repoRoot(t), "charts", "vane"), "-name", release, "-namespace", ns, "-f", f}
}

// helmTemplate renders the chart; it returns the manifests and NOTES.txt.
func helmTemplate(t *testing.T, v chartValues, release, ns string, extra ...string) ([]byte, string, error) {
	t.Helper()
	notes := filepath.Join(t.TempDir(), "NOTES.txt")
	args := append([]string{"template"}, helmArgs(t, v, release, ns)...)
	args = append(append(args, "-notes", notes), extra...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmTool(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("helmtool template %s: %w\n%s", v.name, err, stderr.String())
	}
	n, err := os.ReadFile(notes)
	if err != nil {
		return nil, "", err
	}
	return stdout.Bytes(), string(n), nil
}

// helmLint runs Helm's linter (as helm lint --strict) with the values.
func helmLint(t *testing.T, v chartValues) (string, error) {
	t.Helper()
	args := append([]string{"lint"}, helmArgs(t, v, "vane", "vane-system")...)
	out, err := exec.Command(helmTool(t), args...).CombinedOutput()
	return string(out), err
}
