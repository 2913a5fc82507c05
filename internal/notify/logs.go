package notify

import (
	"io"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
)

// RouteEngineLogs sends what notifications-engine logs (through logrus' standard logger) to
// logger instead of standard error: errors as errors, warnings and information at level 0,
// debug and trace at level 1, each with the entry's fields.
func RouteEngineLogs(logger logr.Logger) {
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.DebugLevel)
	logrus.AddHook(engineHook{log: logger.WithName("notifications-engine")})
}

type engineHook struct{ log logr.Logger }

func (engineHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h engineHook) Fire(e *logrus.Entry) error {
	kv := make([]any, 0, 2*len(e.Data))
	for k, v := range e.Data {
		kv = append(kv, k, v)
	}
	switch {
	case e.Level <= logrus.ErrorLevel:
		h.log.Error(nil, e.Message, kv...)
	case e.Level >= logrus.DebugLevel:
		h.log.V(1).Info(e.Message, kv...)
	default:
		h.log.Info(e.Message, kv...)
	}
	return nil
}
