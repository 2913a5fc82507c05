package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// observer is the PromQL of the built-in metrics for one family of mesh providers. The queries
// are written with single spaces: the Prometheus provider collapses whitespace before it sends a
// query, so they are sent exactly as written.
type observer struct {
	successRate, duration string
	// durationScale turns the duration query's value into milliseconds.
	durationScale float64
	// bareSuccessRate: errors of the success-rate query come without the "running query
	// failed: " prefix (Flagger's HTTP observer).
	bareSuccessRate bool
}

// httpObserver is for the kubernetes and gatewayapi providers: the app's own
// http_request_duration_seconds histogram, by pod name.
var httpObserver = observer{
	successRate:     ` sum( rate( http_request_duration_seconds_count{ kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status!~"5.*" }[{{ interval }}] ) ) / sum( rate( http_request_duration_seconds_count{ kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)" }[{{ interval }}] ) ) * 100`,
	duration:        ` histogram_quantile( 0.99, sum( rate( http_request_duration_seconds_bucket{ kubernetes_namespace="{{ namespace }}", kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)" }[{{ interval }}] ) ) by (le) )`,
	durationScale:   1000,
	bareSuccessRate: true,
}

// istioObserver is for istio and every provider Flagger has no observer of its own for.
var istioObserver = observer{
	successRate:   ` sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}", response_code!~"5.*" }[{{ interval }}] ) ) / sum( rate( istio_requests_total{ reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}" }[{{ interval }}] ) ) * 100`,
	duration:      ` histogram_quantile( 0.99, sum( rate( istio_request_duration_milliseconds_bucket{ reporter="destination", destination_workload_namespace="{{ namespace }}", destination_workload=~"{{ target }}" }[{{ interval }}] ) ) by (le) )`,
	durationScale: 1,
}

// nginxObserver is for the nginx provider: the ingress controller's metrics of the canary
// Ingress.
var nginxObserver = observer{
	successRate:   ` sum( rate( nginx_ingress_controller_requests{ namespace="{{ namespace }}", ingress="{{ ingress }}", canary!="", status!~"5.*" }[{{ interval }}] ) ) / sum( rate( nginx_ingress_controller_requests{ namespace="{{ namespace }}", ingress="{{ ingress }}", canary!="" }[{{ interval }}] ) ) * 100`,
	duration:      ` sum( rate( nginx_ingress_controller_ingress_upstream_latency_seconds_sum{ namespace="{{ namespace }}", ingress="{{ ingress }}", canary!="" }[{{ interval }}] ) ) / sum( rate( nginx_ingress_controller_ingress_upstream_latency_seconds_count{ namespace="{{ namespace }}", ingress="{{ ingress }}", canary!="" }[{{ interval }}] ) ) * 1000`,
	durationScale: 1,
}

// metricsProviderFor is the provider whose built-in queries run, chosen as Flagger does: the
// Canary's spec.provider over the controller's mesh provider (but linkerd when the controller's
// is linkerd), with ":service" appended when the target is a Service.
func metricsProviderFor(cd *flaggerv1.Canary, mesh string) string {
	mp := mesh
	if strings.Contains(mesh, "crossover") {
		mp = "crossover"
	}
	if cd.Spec.Provider != "" {
		mp = cd.Spec.Provider
		if strings.Contains(mesh, "linkerd") {
			mp = "linkerd"
		}
	}
	if cd.Spec.TargetRef.Kind == "Service" {
		mp += ":service"
	}
	return mp
}

// observerFor picks the queries of a metrics provider as Flagger does; ok is false for the
// providers Flagger has queries of its own for that Vane does not route.
func observerFor(mp string) (o observer, ok bool) {
	switch {
	case strings.HasPrefix(mp, "appmesh"), strings.HasPrefix(mp, "gloo"),
		mp == "linkerd", mp == "contour", mp == "skipper", mp == "traefik", mp == "osm", mp == "kuma", mp == "apisix":
		return observer{}, false
	case mp == "istio":
		return istioObserver, true
	case mp == "nginx":
		return nginxObserver, true
	case mp == "kubernetes", strings.HasPrefix(mp, "gatewayapi"):
		return httpObserver, true
	default:
		return istioObserver, true
	}
}

func (o observer) run(ctx context.Context, prom *prometheus, query string, m model, bare bool) (float64, error) {
	q, err := render(query, m)
	if err != nil {
		if bare {
			return 0, err
		}
		return 0, fmt.Errorf("rendering query failed: %w", err)
	}
	v, err := prom.query(ctx, q)
	if err != nil {
		if bare {
			return 0, err
		}
		return 0, fmt.Errorf("running query failed: %w", err)
	}
	return v, nil
}

func (o observer) requestDuration(ctx context.Context, prom *prometheus, m model) (time.Duration, error) {
	v, err := o.run(ctx, prom, o.duration, m, false)
	if err != nil {
		return 0, err
	}
	return time.Duration(int64(v*o.durationScale)) * time.Millisecond, nil
}

// checkBuiltin runs the built-in metrics and the inline queries against the metrics server.
func (c *Checker) checkBuiltin(ctx context.Context, cd *flaggerv1.Canary, mesh string) (string, error) {
	mp := metricsProviderFor(cd, mesh)
	prom, reason, err := c.metricsServer(cd)
	if err != nil {
		return "", err
	}
	if reason != "" {
		return fmt.Sprintf("Error building Prometheus client for %s %s", cd.Spec.MetricsServer, reason), nil
	}
	for _, m := range cd.Spec.Analysis.Metrics {
		if m.Interval == "" {
			m.Interval = DefaultInterval
		}
		if halt := checkBuiltinMetric(ctx, cd, mp, prom, m); halt != "" {
			return halt, nil
		}
	}
	return "", nil
}

func checkBuiltinMetric(ctx context.Context, cd *flaggerv1.Canary, mp string, prom *prometheus, m flaggerv1.CanaryMetric) string {
	md := modelFor(cd, m.Interval, m.TemplateVariables)
	if m.Name == requestSuccessRate || m.Name == requestDuration {
		ob, ok := observerFor(mp)
		if !ok {
			return fmt.Sprintf("Halt advancement %s metric %s is not supported by Vane yet", mp, m.Name)
		}
		if halt := builtinHalt(ctx, cd, mp, prom, ob, m, md); halt != "" {
			return halt
		}
	}
	if m.Query == "" {
		return ""
	}
	// As in Flagger, a query that does not render is sent empty (and Prometheus rejects it).
	query, _ := render(m.Query, md)
	val, err := prom.query(ctx, query)
	if err != nil {
		if errors.Is(err, errNoValues) {
			return fmt.Sprintf("Halt advancement no values found for metric: %s", m.Name)
		}
		return fmt.Sprintf("Prometheus query failed for %s: %v", m.Name, err)
	}
	return valueHalt(cd, m, val)
}

// builtinHalt runs request-success-rate or request-duration.
func builtinHalt(ctx context.Context, cd *flaggerv1.Canary, mp string, prom *prometheus, ob observer, m flaggerv1.CanaryMetric, md model) string {
	target := cd.Spec.TargetRef.Name
	if m.Name == requestSuccessRate {
		val, err := ob.run(ctx, prom, ob.successRate, md, ob.bareSuccessRate)
		switch {
		case errors.Is(err, errNoValues):
			return fmt.Sprintf("Halt advancement no values found for %s metric %s probably %s.%s is not receiving traffic: %v",
				mp, m.Name, target, cd.Namespace, err)
		case err != nil:
			return fmt.Sprintf("Prometheus query failed: %v", err)
		}
		return successRateHalt(cd, m, val)
	}
	val, err := ob.requestDuration(ctx, prom, md)
	switch {
	case errors.Is(err, errNoValues):
		return fmt.Sprintf("Halt advancement no values found for %s metric %s probably %s.%s is not receiving traffic",
			mp, m.Name, target, cd.Namespace)
	case err != nil:
		return fmt.Sprintf("Prometheus query failed: %v", err)
	}
	return durationHalt(cd, m, val)
}
