package main

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/vanedev/vane/internal/controller/rollout"
	"github.com/vanedev/vane/internal/traffic"
)

// trafficFlags are the routers' API versions, under Argo's flag names and defaults.
type trafficFlags struct {
	istio, smi, ambassador, traefikGroup, traefikVersion string
}

// addTrafficFlags adds --istio-api-version, --traffic-split-api-version,
// --ambassador-api-version, --traefik-api-group and --traefik-api-version.
func addTrafficFlags(fl *pflag.FlagSet) *trafficFlags {
	t := &trafficFlags{}
	fl.StringVar(&t.istio, "istio-api-version", "v1alpha3", "apiVersion of the Istio VirtualServices and DestinationRules the controller edits")
	fl.StringVar(&t.smi, "traffic-split-api-version", "v1alpha1", "apiVersion of the SMI TrafficSplits the controller creates")
	fl.StringVar(&t.ambassador, "ambassador-api-version", "getambassador.io/v2", "apiVersion of the Ambassador Mappings the controller edits")
	fl.StringVar(&t.traefikGroup, "traefik-api-group", "traefik.io", "API group of the TraefikServices (traefik.containo.us for Traefik v2)")
	fl.StringVar(&t.traefikVersion, "traefik-api-version", "traefik.io/v1alpha1", "apiVersion of the TraefikServices the controller edits")
	return t
}

// rolloutOptions pass the versions to the routers.
func (t *trafficFlags) rolloutOptions() []rollout.Option {
	traefikVersion := t.traefikVersion
	if !strings.Contains(traefikVersion, "/") {
		traefikVersion = t.traefikGroup + "/" + traefikVersion
	} else if g, v, _ := strings.Cut(traefikVersion, "/"); g == "traefik.io" && t.traefikGroup != "traefik.io" {
		traefikVersion = t.traefikGroup + "/" + v
	}
	return []rollout.Option{rollout.WithTrafficOptions(traffic.WithIstioAPIVersion(t.istio), traffic.WithSMIAPIVersion(t.smi),
		traffic.WithAmbassadorAPIVersion(t.ambassador), traffic.WithTraefikAPIVersion(traefikVersion))}
}
