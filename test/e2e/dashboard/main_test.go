// Package dashboard holds the end-to-end tests of Vane's dashboard (internal/server) against
// the local control plane with Vane's controller running in this process: its JSON API and
// event stream, its authentication (TokenReview, SubjectAccessReview, impersonation, CSRF),
// its pages in headless Chromium, and its load (one watch per kind for many viewers). It is its
// own package so that its control plane serves only it: the API server's watch counts are the
// dashboard's and the controller's alone.
package dashboard

import (
	"os"
	"testing"

	"github.com/vanedev/vane/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
