package notify

import (
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
)

// TestRouteEngineLogs: the engine's logrus lines reach the logger with their level and fields.
func TestRouteEngineLogs(t *testing.T) {
	var got []string
	logger := funcr.New(func(prefix, args string) { got = append(got, prefix+" "+args) }, funcr.Options{Verbosity: 1})
	RouteEngineLogs(logger)
	logrus.WithField("trigger", "on-x").Error("failed to execute when condition")
	logrus.Info("sent")
	logrus.Debug("detail")
	want := []string{
		`notifications-engine "msg"="failed to execute when condition" "error"=null "trigger"="on-x"`,
		`notifications-engine "level"=0 "msg"="sent"`,
		`notifications-engine "level"=1 "msg"="detail"`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("routed lines (-want +got):\n%s", d)
	}
}
