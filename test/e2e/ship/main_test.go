// Package ship tests what a platform team installs (issue 19): the image `make image` builds
// (read back from its OCI layout, its binary extracted and run), the install manifests `make
// manifests` writes and the Helm chart charts/vane, applied server-side to the local control
// plane (internal/testenv).
//
// kwok's pods run no containers, so the controller's Deployment gets fake pods; the tests run
// the binary taken out of the image's layer as a process instead, with the Deployment's own
// arguments and authenticated as the install's ServiceAccount with a token the API server
// issued. Its metrics and health addresses are moved to free ports on 127.0.0.1 (the
// Deployment's ":8090" and ":8091" would listen on every interface, and on fixed ports other
// test packages may use).
//
// The package is its own `go test` process, so it runs beside the other end-to-end packages
// with its own cluster: go test ./test/e2e/ship/
package ship

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	cleanupImage()
	os.Exit(code)
}
