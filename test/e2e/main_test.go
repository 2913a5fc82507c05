// Package e2e holds end-to-end scenarios that run against the local control plane
// (internal/testenv): `make test-e2e`, or `go test ./test/e2e/`.
package e2e

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
