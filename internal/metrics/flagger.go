package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Flagger's instruments, under its names and labels: status and duration by the target's name,
// weight by workload (the primary's and the target's).
var (
	flaggerStatus = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_status",
		Help: "Last canary analysis result"}, []string{"name", "namespace"})
	flaggerWeight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_weight",
		Help: "The virtual service destination weight current value"}, []string{"workload", "namespace"})
	flaggerTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_total",
		Help: "Total number of canary object"}, []string{"namespace"})
	flaggerDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flagger_canary_duration_seconds",
		Help: "Seconds spent performing canary analysis.", Buckets: prometheus.DefBuckets}, []string{"name", "namespace"})
)

// CanaryMetrics reports Flagger's metrics for Canaries.
type CanaryMetrics struct {
	once  sync.Once
	mu    sync.Mutex
	total map[string]map[string]bool // namespace -> Canary names
}

// Canaries is what the Canary reconciler reports to.
var Canaries = &CanaryMetrics{total: map[string]map[string]bool{}}

// register adds Flagger's instruments to controller-runtime's registry on first use (a
// controller with no Canaries serves none of them).
func (m *CanaryMetrics) register() {
	m.once.Do(func() {
		for _, c := range []prometheus.Collector{flaggerStatus, flaggerWeight, flaggerTotal, flaggerDuration} {
			_ = crmetrics.Registry.Register(c)
		}
	})
}

// SetStatus sets flagger_canary_status: 0 while progressing, 2 failed, 1 otherwise; and counts
// the Canary in flagger_canary_total.
func (m *CanaryMetrics) SetStatus(cd *flaggerv1.Canary, phase flaggerv1.CanaryPhase) {
	m.register()
	v := 1.0
	switch phase {
	case flaggerv1.PhaseProgressing:
		v = 0
	case flaggerv1.PhaseFailed:
		v = 2
	}
	flaggerStatus.WithLabelValues(cd.Spec.TargetRef.Name, cd.Namespace).Set(v)
	m.count(cd.Namespace, cd.Name, true)
}

// SetWeight sets flagger_canary_weight of the primary and of the target.
func (m *CanaryMetrics) SetWeight(cd *flaggerv1.Canary, primary, canary int) {
	m.register()
	flaggerWeight.WithLabelValues(cd.PrimaryName(), cd.Namespace).Set(float64(primary))
	flaggerWeight.WithLabelValues(cd.Spec.TargetRef.Name, cd.Namespace).Set(float64(canary))
}

// ObserveDuration records how long an analysis tick took.
func (m *CanaryMetrics) ObserveDuration(cd *flaggerv1.Canary, d time.Duration) {
	m.register()
	flaggerDuration.WithLabelValues(cd.Spec.TargetRef.Name, cd.Namespace).Observe(d.Seconds())
}

// Forget removes a deleted Canary's series.
func (m *CanaryMetrics) Forget(namespace, name, target string) {
	flaggerStatus.Delete(prometheus.Labels{"name": target, "namespace": namespace})
	flaggerDuration.Delete(prometheus.Labels{"name": target, "namespace": namespace})
	flaggerWeight.Delete(prometheus.Labels{"workload": target, "namespace": namespace})
	flaggerWeight.Delete(prometheus.Labels{"workload": target + "-primary", "namespace": namespace})
	m.count(namespace, name, false)
}

func (m *CanaryMetrics) count(namespace, name string, present bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.total[namespace] == nil {
		m.total[namespace] = map[string]bool{}
	}
	if present {
		m.total[namespace][name] = true
	} else {
		delete(m.total[namespace], name)
	}
	flaggerTotal.WithLabelValues(namespace).Set(float64(len(m.total[namespace])))
}
