// Package migration moves live rollouts between Argo Rollouts' own controller (built from the
// pinned module by `make argo-tools`) and Vane's, both ways, on the local control plane
// (internal/testenv): a team that swaps one controller for the other must see no ReplicaSet
// created or deleted, no pod replaced and every rollout exactly where it was, and the new
// controller must then carry each rollout on to Healthy.
//
//	make argo-tools && go test ./test/e2e/migration/
//
// The package has its own cluster, so it runs beside ./test/e2e. Its tests run one after the
// other: each installs the CRDs of the controller it starts with over the cluster's.
package migration

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
