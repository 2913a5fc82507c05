package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/vanedev/vane/internal/controller"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Values of --resolve-services.
const (
	resolveAuto   = "auto"
	resolveAlways = "always"
	resolveNever  = "never"
)

// addCanaryFlags adds the flags of Flagger's Canaries, named as Flagger's own where it has one.
func addCanaryFlags(fl *pflag.FlagSet, f *controllerFlags) {
	fl.StringVar(&f.canary.MeshProvider, "mesh-provider", flaggerv1.KubernetesProvider,
		"provider of Canaries that set no spec.provider (kubernetes, gatewayapi, nginx, istio)")
	fl.StringVar(&f.canary.MetricsServer, "metrics-server", "http://prometheus:9090",
		"Prometheus queried by Canaries' built-in metrics and by MetricTemplates without an address")
	fl.StringVar(&f.canary.EventWebhook, "event-webhook", "", "URL sent every event of Canaries that have no event webhook")
	fl.StringVar(&f.canary.ClusterName, "cluster-name", "", "cluster name shown in Canary alerts")
	fl.DurationVar(&f.canary.MinInterval, "canary-min-interval", flaggerv1.MinAnalysisInterval,
		"shortest analysis interval of a Canary (Flagger's floor is 10s)")
	fl.StringVar(&f.resolve, "resolve-services", resolveAuto, "dial <service>.<namespace> URLs of Canary webhooks and "+
		"metric servers at the Service's ClusterIP: always, never, or auto (when the controller runs outside a cluster)")
}

// canaryOptions are the Canary settings the flags give.
func (f *controllerFlags) canaryOptions() (controller.CanaryOptions, error) {
	o := f.canary
	switch f.resolve {
	case resolveAlways:
		o.ResolveServices = true
	case resolveNever:
		o.ResolveServices = false
	case resolveAuto:
		_, inCluster := os.LookupEnv("KUBERNETES_SERVICE_HOST")
		o.ResolveServices = !inCluster
	default:
		return o, fmt.Errorf("--resolve-services %q: want always, never or auto", f.resolve)
	}
	if o.MinInterval <= 0 {
		return o, fmt.Errorf("--canary-min-interval %s: must be positive", o.MinInterval)
	}
	return o, nil
}
