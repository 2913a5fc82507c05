package chaos

import (
	"context"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

// replicaUser is the user a controller replica acts as: a ServiceAccount bound to the
// controller's generated ClusterRole, one per replica so that the audit log tells them apart.
func replicaUser(replica string) string {
	return "system:serviceaccount:vane-system:" + replica
}

// controller is `vane controller` as a process, scoped to one namespace and acting as its
// own ServiceAccount; it can be killed and started again with the same ports and log.
type controller struct {
	t       *testing.T
	replica string
	health  string // host:port of /readyz
	metrics string // host:port of /metrics
	mu      sync.Mutex
	proc    *vaneproc.Process
	opts    vaneproc.Options
	starts  int
}

var rbacOnce sync.Once

// newController starts replica (a name unique in the package) for ns with extra flags, and
// waits until it is ready.
func newController(t *testing.T, env *testenv.Env, ns, replica string, extra ...string) *controller {
	t.Helper()
	bindReplica(t, env, replica)
	c := &controller{t: t, replica: replica, health: vaneproc.FreeAddr(t), metrics: vaneproc.FreeAddr(t)}
	args := append([]string{"controller", "--kubeconfig", env.Kubeconfig, "-n", ns, "--as", replicaUser(replica),
		"--metrics-bind-address", c.metrics, "--health-probe-bind-address", c.health, "-v", "1"}, extra...)
	c.opts = vaneproc.Options{Name: replica, Bin: vaneproc.Build(t, env.RepoRoot), Args: args}
	c.start()
	return c
}

// start starts the controller (again) and waits until it answers /readyz.
func (c *controller) start() {
	c.t.Helper()
	c.mu.Lock()
	c.proc = vaneproc.Start(c.t, c.opts)
	c.opts = c.proc.Options()
	c.starts++
	p := c.proc
	c.mu.Unlock()
	p.WaitReady("http://"+c.health+"/readyz", 60*time.Second)
}

// process returns the running process.
func (c *controller) process() *vaneproc.Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc
}

// kill SIGKILLs the controller and returns when.
func (c *controller) kill() time.Time {
	c.process().Kill()
	return time.Now()
}

// scrape reads the controller's metrics.
func (c *controller) scrape() (vaneproc.Metrics, error) {
	return vaneproc.Scrape("http://" + c.metrics + "/metrics")
}

// bindReplica installs the controller's RBAC (config/rbac) and binds its ClusterRole to the
// replica's ServiceAccount.
func bindReplica(t *testing.T, env *testenv.Env, replica string) {
	t.Helper()
	var err error
	rbacOnce.Do(func() {
		err = env.ApplyFiles("config/rbac/role.yaml", "config/rbac/service_account.yaml", "config/rbac/role_binding.yaml")
	})
	if err != nil {
		t.Fatalf("installing the controller's RBAC: %v", err)
	}
	b := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "chaos-" + replica},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vane-controller"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "vane-system", Name: replica}},
	}
	if err := env.Client.Create(context.Background(), b); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("binding the controller's ClusterRole to %s: %v", replica, err)
	}
}

// rssSampler records the peak resident memory of a controller's processes.
type rssSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

// sampleRSS samples c's memory every 200 ms until stopped.
func sampleRSS(c *controller) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := c.process().RSS(); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, rss)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak in MiB.
func (s *rssSampler) finish() float64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return float64(s.peak) / (1 << 20)
}
