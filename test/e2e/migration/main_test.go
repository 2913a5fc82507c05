// Package migration moves live rollouts between Argo Rollouts' own controller (v1.10.1, built
// from the pinned module by `make argo-tools`) and Vane's, both ways, on the local control
// plane (internal/testenv). A team that swaps one controller for the other must see no
// ReplicaSet created or deleted, no pod replaced, no Service selector changed and every rollout
// exactly where it was; the new controller must then carry each rollout on to Healthy.
//
//	make argo-tools && go test ./test/e2e/migration/
//
// TestArgoToVane prepares eight rollouts in flight with Argo's controller and its kubectl
// plugin (a completed canary, a canary paused at a step, an aborted one, two blue/greens
// waiting for promotion, one with workloadRef, a canary with a background web analysis
// running, a blue/green just promoted whose previous version waits for its
// scaleDownDelaySeconds and a canary in the middle of a timed pause), stops Argo, installs Vane's CRDs and RBAC over Argo's and starts
// Vane; TestVaneToArgo does the reverse with Vane's controller and CLI. Every version of every
// object the new controller writes is watched against the state it took over. The second test
// to run also compares Vane with Argo directly: the states each prepares from the same
// manifests and commands, what each changes carrying the same states on, and the events of
// both.
//
// The package has its own cluster, so it runs beside ./test/e2e. Its tests run one after the
// other, each in its own namespace with controllers scoped to it; each installs the CRDs of the
// controller it starts with over the cluster's. VANE_BIN names a prebuilt `vane` binary to use
// instead of building ./cmd/vane; VANE_ARGO_BIN the folder of Argo's tools.
package migration

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
