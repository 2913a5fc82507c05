package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/testenv"
)

var (
	vaneBinOnce sync.Once
	vaneBin     string
	vaneBinErr  error
)

// buildVane builds cmd/vane once per test process.
func buildVane(t *testing.T, env *testenv.Env) string {
	t.Helper()
	vaneBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vane-e2e-bin-")
		if err != nil {
			vaneBinErr = err
			return
		}
		vaneBin = filepath.Join(dir, "vane")
		cmd := exec.Command("go", "build", "-o", vaneBin, "./cmd/vane")
		cmd.Dir = env.RepoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			vaneBinErr = fmt.Errorf("go build ./cmd/vane: %v\n%s", err, out)
		}
	})
	if vaneBinErr != nil {
		t.Fatal(vaneBinErr)
	}
	return vaneBin
}

// startControllerProcess runs `vane controller` for one instance id as a child process.
func startControllerProcess(t *testing.T, env *testenv.Env, bin, instanceID, logPath string) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "controller", "--kubeconfig", env.Kubeconfig, "--instance-id", instanceID,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0", "-v", "1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// controllerProcess is `vane controller` run as a child process for one instance id, so that a
// test can SIGKILL it and start it again; its log is printed when the test fails.
type controllerProcess struct {
	t       *testing.T
	env     *testenv.Env
	bin, id string
	logPath string
	cmd     *exec.Cmd
}

func newControllerProcess(t *testing.T, env *testenv.Env, id string) *controllerProcess {
	t.Helper()
	if env.Kubeconfig == "" {
		t.Fatal("the test cluster has no kubeconfig file for a controller process")
	}
	c := &controllerProcess{t: t, env: env, bin: buildVane(t, env), id: id, logPath: filepath.Join(t.TempDir(), "controller.log")}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(c.logPath)
			t.Logf("controller log:\n%s", tail(string(b), 4000))
		}
	})
	c.start()
	return c
}

func (c *controllerProcess) start() {
	c.cmd = startControllerProcess(c.t, c.env, c.bin, c.id, c.logPath)
}

func (c *controllerProcess) kill() { kill(c.t, c.cmd) }

// TestControllerKilledMidStep: the controller process is SIGKILLed while a canary step waits for
// its pods, and again during a timed pause; started again, it finishes the rollout correctly,
// with exactly one ReplicaSet per revision.
func TestControllerKilledMidStep(t *testing.T) {
	env := testenv.Get(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	const id = "kill-test"
	ctl := newControllerProcess(t, env, id)

	applyManifests(t, env, ns, "examples/seeds/keptn-podtatohead-rollout.yaml", func(ro *v1alpha1.Rollout) {
		ro.Name = "app"
		ro.Labels = map[string]string{v1alpha1.InstanceIDLabel: id}
		w50 := int32(50)
		pause := v1alpha1.DurationFromString("5s")
		ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetWeight: &w50}, {Pause: &v1alpha1.RolloutPause{Duration: &pause}}}
		ro.Spec.Template.Spec.Containers[0].Image = "app:1"
	})
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "app:1", Sets: "app:1=4/4"})

	// new pods take 3s to become Ready: kill the controller while the 50% step waits for them
	ro := &v1alpha1.Rollout{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, ro); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ro.DeepCopy())
	ro.Spec.Template.Spec.Containers[0].Image = "app:2"
	ro.Spec.Template.Annotations = map[string]string{"vane.dev/kwok-ready-delay": "3s"}
	if err := env.Client.Patch(ctx, ro, patch); err != nil {
		t.Fatal(err)
	}
	// maxSurge and maxUnavailable (25% of 4: one pod each) let both canary pods start at once
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Progressing", Step: 0, Sets: "app:1=3/3 app:2=2/0"})
	ctl.kill()
	ctl.start()

	// 50% of 4: two canary pods, then the timed pause; kill it during the pause too
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Paused", Step: 1, Sets: "app:1=2/2 app:2=2/2"})
	ctl.kill()
	time.Sleep(time.Second)
	ctl.start()
	waitState(t, env, ns, "app", waitLong, snapshot{Phase: "Healthy", Step: 2, Stable: "app:2", Sets: "app:2=4/4"})

	var list appsv1.ReplicaSetList
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	revisions := map[string]string{}
	for _, rs := range list.Items {
		img := rs.Spec.Template.Spec.Containers[0].Image
		if prev, dup := revisions[img]; dup {
			t.Errorf("two ReplicaSets run %s (revisions %s and %s)", img, prev, rs.Annotations[v1alpha1.RevisionAnnotation])
		}
		revisions[img] = rs.Annotations[v1alpha1.RevisionAnnotation]
	}
	if revisions["app:1"] != "1" || revisions["app:2"] != "2" || len(revisions) != 2 {
		t.Errorf("ReplicaSets by image and revision: %v, want app:1=1 app:2=2", revisions)
	}
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
