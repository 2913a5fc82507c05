package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAuditFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		path   string
		want   []string // with DIR for the state folder
		policy bool     // whether the policy file is written
	}{
		"no audit log": {},
		"an audit log": {path: "/var/log/audit.log", policy: true, want: []string{
			"--audit-policy-file=DIR/audit-policy.yaml", "--audit-log-path=/var/log/audit.log",
			"--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=0"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := auditFlags(dir, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], dir, "DIR")
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("flags (-want +got):\n%s", d)
			}
			b, err := os.ReadFile(filepath.Join(dir, "audit-policy.yaml"))
			if tc.policy != (err == nil) {
				t.Fatalf("policy file written: %v, want %v", err == nil, tc.policy)
			}
			if tc.policy && !strings.Contains(string(b), "level: None\n  verbs: [get, list, watch]") {
				t.Errorf("the policy does not leave reads out:\n%s", b)
			}
		})
	}
}

func TestComponentNotStarted(t *testing.T) {
	c := &Cluster{procs: []*process{{name: Etcd, pid: 1}}}
	for name, err := range map[string]error{
		"unknown":        c.StopComponent("kube-proxy", 0),
		"from pids file": c.StopComponent(Etcd, 0),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
