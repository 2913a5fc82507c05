// Package traffic splits a canary's traffic through the ingress or mesh a Rollout names in
// spec.strategy.canary.trafficRouting. New picks the router; one package per router does the
// work:
//
//   - gatewayapi: Gateway API HTTPRoutes, configured as Argo's Gateway API plugin is
//     (trafficRouting.plugins["argoproj-labs/gatewayAPI"]);
//   - nginx: ingress-nginx canary Ingresses;
//   - istio: Istio VirtualServices and DestinationRule subsets;
//   - smi: an SMI TrafficSplit;
//   - ambassador: canary Mappings of Ambassador Edge Stack / Emissary-ingress;
//   - traefik: a weighted TraefikService;
//   - apisix: an Apache APISIX ApisixRoute, and ApisixRoutes for header routes;
//   - alb: the AWS Load Balancer Controller's action and condition annotations on Ingresses
//     (with ping-pong Services and, when asked, the target groups' weights verified on AWS);
//   - plugins: Argo's traffic router plugins (internal/plugin/router), when WithPlugins gives
//     a plugin Manager and the argo-rollouts-config ConfigMap lists them.
//
// A Rollout that names several routers gets a Multi of them, in a fixed order (multi.go).
//
// Routers are called by the rollout reconciler with the Rollout as stored. A router object
// that is missing or unusable gives an *Error naming the object and the field, and nothing is
// changed; other errors are the API's and worth a retry.
//
// The routers read the objects they edit as unstructured data (Ingresses as client-go's typed
// objects) and decode the part they edit into small typed views (common.Fields): every member
// a view does not hold, or holds and did not change, is written back exactly as it was read,
// so a user's fields, including those of newer API versions, are never dropped. A member that
// does not have the shape a router needs is an Invalid Error naming it.
package traffic

import (
	"context"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/plugin"
	pluginrouter "github.com/vanedev/vane/internal/plugin/router"
	"github.com/vanedev/vane/internal/traffic/alb"
	"github.com/vanedev/vane/internal/traffic/ambassador"
	"github.com/vanedev/vane/internal/traffic/apisix"
	"github.com/vanedev/vane/internal/traffic/common"
	"github.com/vanedev/vane/internal/traffic/gatewayapi"
	"github.com/vanedev/vane/internal/traffic/istio"
	"github.com/vanedev/vane/internal/traffic/nginx"
	"github.com/vanedev/vane/internal/traffic/smi"
	"github.com/vanedev/vane/internal/traffic/traefik"
)

// Router splits traffic between a Rollout's canary and stable Services (or subsets).
type Router interface {
	// Type names the router ("GatewayAPI", "Nginx", "Istio", "SMI", "Ambassador", "Traefik",
	// "Apisix"; joined with "," for several).
	Type() string
	// UpdateHash points subset-based routing at the canary and stable pod-template hashes
	// (Istio DestinationRule subsets); the others have nothing to do.
	UpdateHash(ctx context.Context, ro *v1alpha1.Rollout, canaryHash, stableHash string, additional []v1alpha1.WeightDestination) error
	// SetWeight sends weight (out of maxTrafficWeight) to the canary, the additional
	// destinations (a running Experiment's Services) their weights, and the rest to the
	// stable; destinations it was given before and no longer is stop getting traffic
	// (ingress-nginx, which splits between two Services only, ignores them, as Argo's does).
	SetWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) error
	// SetHeaderRoute adds (or, without match, removes) a managed route that sends requests
	// matching headers to the canary.
	SetHeaderRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetHeaderRoute) error
	// SetMirrorRoute adds (or, without match, removes) a managed route that mirrors matching
	// requests to the canary.
	SetMirrorRoute(ctx context.Context, ro *v1alpha1.Rollout, route *v1alpha1.SetMirrorRoute) error
	// VerifyWeight reports whether the router applies the weights: its objects carry them and,
	// where the router's controller reports on them (Gateway API route status), it has
	// accepted them.
	VerifyWeight(ctx context.Context, ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) (bool, error)
	// RemoveManagedRoutes removes every header and mirror route the router added.
	RemoveManagedRoutes(ctx context.Context, ro *v1alpha1.Rollout) error
}

// Error is a router object that is missing or cannot be used: it names the object, the field
// and the reason. Nothing changed when a router returns one.
type Error = common.Error

// Reason classifies an Error.
type Reason = common.Reason

// Reasons of router errors.
const (
	NotFound    = common.NotFound
	Invalid     = common.Invalid
	Conflict    = common.Conflict
	Unsupported = common.Unsupported
)

// AsError returns the router Error inside err, if there is one.
func AsError(err error) (*Error, bool) { return common.AsError(err) }

// Options tune New.
type Options struct {
	// IstioAPIVersion is the networking.istio.io version to use (default v1alpha3).
	IstioAPIVersion string
	// SMIAPIVersion is the split.smi-spec.io version to use (default v1alpha1).
	SMIAPIVersion string
	// TraefikAPIVersion is the TraefikService API to use, <group>/<version> (default
	// traefik.io/v1alpha1, Traefik v3; traefik.containo.us/v1alpha1 for Traefik v2).
	TraefikAPIVersion string
	// AmbassadorAPIVersion is the Mapping API to use (default getambassador.io/v2;
	// getambassador.io/v3alpha1, or x.getambassador.io/v3alpha1 for AmbassadorMappings).
	AmbassadorAPIVersion string
	// Plugins runs the traffic router plugins of the argo-rollouts-config ConfigMap (nil: a
	// router plugin other than the built-in Gateway API one is Unsupported).
	Plugins *plugin.Manager
}

// WithPlugins has router plugins run by pm. The built-in Gateway API router keeps serving
// "argoproj-labs/gatewayAPI" unless the ConfigMap lists a plugin of that name.
func WithPlugins(pm *plugin.Manager) Option { return func(o *Options) { o.Plugins = pm } }

// Option sets an Option.
type Option func(*Options)

// WithIstioAPIVersion sets the networking.istio.io version.
func WithIstioAPIVersion(v string) Option { return func(o *Options) { o.IstioAPIVersion = v } }

// WithSMIAPIVersion sets the split.smi-spec.io version.
func WithSMIAPIVersion(v string) Option { return func(o *Options) { o.SMIAPIVersion = v } }

// WithTraefikAPIVersion sets the TraefikService API, as Argo's --traefik-api-group and
// --traefik-api-version do together (for Traefik v2: traefik.containo.us/v1alpha1).
func WithTraefikAPIVersion(v string) Option { return func(o *Options) { o.TraefikAPIVersion = v } }

// WithAmbassadorAPIVersion sets the Mapping API, as Argo's --ambassador-api-version does.
func WithAmbassadorAPIVersion(v string) Option {
	return func(o *Options) { o.AmbassadorAPIVersion = v }
}

// AddToScheme registers the Gateway API v1 types. The routers no longer need them (they read
// HTTPRoutes as unstructured data); it is kept for the schemes of callers that use them.
func AddToScheme(s *runtime.Scheme) error { return gatewayv1.Install(s) }

// New returns the router for the Rollout's trafficRouting, or a Multi of them when it names
// several, in Argo's order: istio, nginx, alb, smi, ambassador, (appMesh,) traefik, apisix,
// then the plugins by name. c should read from the API server directly (not a cache); its
// scheme needs only client-go's kinds. Routers Vane does not implement are an Unsupported
// Error.
func New(ro *v1alpha1.Rollout, c client.Client, opts ...Option) (Router, error) {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	_, tr, err := common.Canary(ro)
	if err != nil {
		return nil, err
	}
	routers, errs := builtIn(ro, c, tr, o)
	var plugins []string
	for name := range tr.Plugins {
		plugins = append(plugins, name)
	}
	sort.Strings(plugins)
	for _, name := range plugins {
		if o.Plugins != nil && (name != gatewayapi.PluginName || pluginrouter.Serves(context.Background(), o.Plugins, name)) {
			routers = append(routers, pluginrouter.New(o.Plugins, name))
			continue
		}
		if name == gatewayapi.PluginName {
			r, err := gatewayapi.New(ro, c)
			routers, errs = appendRouter(routers, errs, r, err)
			continue
		}
		errs = append(errs, common.Unsupportedf(ro, common.TrafficRoutingPath+`.plugins["`+name+`"]`,
			"traffic router plugins are not configured; Vane implements %q natively", gatewayapi.PluginName))
	}
	if err := first(errs); err != nil {
		return nil, err
	}
	switch len(routers) {
	case 0:
		return nil, common.RolloutInvalidf(ro, common.TrafficRoutingPath, "names no traffic router")
	case 1:
		return routers[0], nil
	}
	return Multi(routers), nil
}

// builtIn builds the routers of tr other than the plugins, in Argo's order, and the errors of
// those it cannot build or that Vane does not implement.
func builtIn(ro *v1alpha1.Rollout, c client.Client, tr *v1alpha1.RolloutTrafficRouting, o Options) ([]Router, []error) {
	var routers []Router
	var errs []error
	if tr.Istio != nil {
		r, err := istio.New(ro, c, o.IstioAPIVersion)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.Nginx != nil {
		r, err := nginx.New(ro, c)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.ALB != nil {
		r, err := alb.New(ro, c)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.SMI != nil {
		r, err := smi.New(ro, c, o.SMIAPIVersion)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.Ambassador != nil {
		r, err := ambassador.New(ro, c, o.AmbassadorAPIVersion)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.Traefik != nil {
		r, err := traefik.New(ro, c, o.TraefikAPIVersion)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.Apisix != nil {
		r, err := apisix.New(ro, c)
		routers, errs = appendRouter(routers, errs, r, err)
	}
	if tr.AppMesh != nil {
		errs = append(errs, common.Unsupportedf(ro, common.TrafficRoutingPath+".appMesh",
			"this traffic router is not supported by Vane; use the Gateway API, nginx, istio, smi, alb, ambassador, traefik or apisix"))
	}
	return routers, errs
}

// appendRouter adds r to routers, or err to errs when building it failed.
func appendRouter[R Router](routers []Router, errs []error, r R, err error) ([]Router, []error) {
	if err != nil {
		return routers, append(errs, err)
	}
	return append(routers, r), errs
}

// first returns the first non-nil error, preferring router Errors in a stable order.
func first(errs []error) error {
	var out error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if out == nil {
			out = err
			continue
		}
		a, aok := AsError(out)
		b, bok := AsError(err)
		if aok && bok && b.Field < a.Field {
			out = err
		}
	}
	return out
}

// compile-time checks
var (
	_ Router = (*gatewayapi.Router)(nil)
	_ Router = (*nginx.Router)(nil)
	_ Router = (*istio.Router)(nil)
	_ Router = (*smi.Router)(nil)
	_ Router = (*ambassador.Router)(nil)
	_ Router = (*traefik.Router)(nil)
	_ Router = (*apisix.Router)(nil)
	_ Router = (*alb.Router)(nil)
	_ Router = (*pluginrouter.Router)(nil)
	_ Router = Multi(nil)
)
