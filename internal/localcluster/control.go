package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Components a test can stop and start again (Cluster.StopComponent, StartComponent).
const (
	Etcd      = "etcd"
	APIServer = "kube-apiserver"
)

// auditPolicy logs every write at level Metadata and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  verbs: [get, list, watch]
- level: Metadata
`

// auditFlags writes the audit policy into dir and returns kube-apiserver's flags that log to
// path; no flags when path is empty.
func auditFlags(dir, path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("writing the audit policy: %w", err)
	}
	return []string{"--audit-policy-file=" + policy, "--audit-log-path=" + path,
		"--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0"}, nil
}

// component returns the last started process of the named component.
func (c *Cluster) component(name string) (*process, error) {
	for i := len(c.procs) - 1; i >= 0; i-- {
		if c.procs[i].name == name {
			return c.procs[i], nil
		}
	}
	return nil, fmt.Errorf("no component %q in this cluster", name)
}

// StopComponent stops one component of the cluster (SIGTERM, SIGKILL after grace), for a test
// of what its clients do while it is gone: Etcd or APIServer. A stopped component stays
// stopped until StartComponent.
func (c *Cluster) StopComponent(name string, grace time.Duration) error {
	p, err := c.component(name)
	if err != nil {
		return err
	}
	if p.cmd == nil {
		return fmt.Errorf("%s was not started by this process: it cannot be stopped here", name)
	}
	p.stop(grace)
	return nil
}

// StartComponent starts a stopped component again with the arguments and ports it had; for
// APIServer it waits until /readyz answers. A component that runs is left as it is.
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	p, err := c.component(name)
	if err != nil {
		return err
	}
	if p.alive() {
		return nil
	}
	if p.bin == "" {
		return fmt.Errorf("%s was not started by this process: it cannot be started here", name)
	}
	np, err := startProcess(c.Dir, name, p.bin, p.detached, p.args...)
	if np != nil {
		c.procs[slices.Index(c.procs, p)] = np // keep the start order Stop relies on
	}
	if err != nil {
		return err
	}
	if name == APIServer {
		return waitReady(ctx, c.Config, np)
	}
	return nil
}
