package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// BinDirEnv overrides where the control-plane binaries are looked for.
const BinDirEnv = "VANE_K8S_BIN"

// DefaultBinDir returns the cache folder that hack/cluster/install.sh builds into for the
// versions pinned in <repoRoot>/hack/versions.env (hack/cluster/bindir.sh computes the same).
func DefaultBinDir(repoRoot string) (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		return dir, nil
	}
	versions, err := readEnvFile(filepath.Join(repoRoot, "hack", "versions.env"))
	if err != nil {
		return "", err
	}
	k8s, kwok := versions["K8S_VERSION"], versions["KWOK_VERSION"]
	if k8s == "" || kwok == "" {
		return "", errors.New("hack/versions.env must set K8S_VERSION and KWOK_VERSION")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locating the cache folder: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "vane", "k8s-"+k8s+"-kwok-"+kwok), nil
}

// RepoRoot walks up from dir to the folder holding this module's go.mod.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/vanedev/vane\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no github.com/vanedev/vane go.mod above %s", dir)
		}
	}
}

// readEnvFile reads KEY=VALUE lines, skipping comments and blank lines.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading pinned versions: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return out, sc.Err()
}
