// Package argotools runs the Argo ecosystem's own tools against rollouts that Vane's controller
// drives on the local control plane (internal/testenv): Argo Rollouts' kubectl plugin, built
// from the pinned module by `make argo-tools`, and Argo CD's health script for Rollouts, read
// from the pinned Argo CD module. Run it with `go test ./test/e2e/argotools/`.
package argotools

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/controllertest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// withController returns the shared control plane with Vane's controller running in this test
// process (controllertest.Start: started once, as config/rbac's ServiceAccount).
func withController(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Get(t)
	if err := controllertest.Start(env, "argotools"); err != nil {
		t.Fatalf("starting the controller: %v", err)
	}
	return env
}
