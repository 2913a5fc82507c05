// Package router creates and edits the traffic objects Flagger's Canary drives, under the names
// Flagger gives them, for the providers Vane routes:
//
//   - gatewayapi, gatewayapi:v1 and gatewayapi:v1beta1: the HTTPRoute <apex> whose rules send
//     traffic to the Services <apex>-primary and <apex>-canary;
//   - istio: the VirtualService <apex> and the DestinationRules <apex>-primary and <apex>-canary;
//   - nginx: the Ingress <ingress>-canary, a copy of spec.ingressRef's Ingress whose backend is
//     <apex>-canary, driven by ingress-nginx's canary annotations;
//   - kubernetes: nothing (blue/green by Service selectors, which the controller does).
//
// The objects are read and written as unstructured data (only their CRDs are needed). Their
// specs are decoded into the views of views_*.go: the members Flagger generates are owned and
// rewritten; every other member (a field a user or another controller added) is written back
// as it was (see common.Fields). Objects are created with the Canary as their controller owner,
// as Flagger creates them, and written only when something the router owns differs.
//
// Where Flagger silently ignores a setting its provider cannot honour (mirroring on nginx, a
// header match Gateway API cannot express, mirroring in a progressive Gateway API analysis,
// which never gets past its first step in Flagger...), the router returns a *common.Error
// naming the Canary field instead.
//
// Other differences from Flagger v1.36.1, each where Flagger's result is an accident:
//
//   - "gatewayapi" alone is Gateway API v1 (Flagger's factory gives it the Istio router);
//   - labels and annotations are added to a route's, not put in their place;
//   - Gateway API: analysis.mirrorWeight becomes the mirror filter's percent; headers and query
//     parameters are in name order (Flagger's follow map order, so its rules change from one
//     reconcile to the next); parent and mirror references carry the group and kind the CRD
//     defaults them to, so that the API server keeps what the router writes; an A/B rule gets
//     no empty request timeout (which the API server refuses) when spec.service.timeout is unset;
//   - Istio: an A/B match merged with spec.service.match keeps its query parameters; the
//     original-configuration annotation holds the whole spec the VirtualService had;
//   - nginx: canary-by annotations that analysis.match no longer asks for are removed.
package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Router creates and edits the traffic objects of one provider for Canaries.
type Router interface {
	// Reconcile creates the provider's objects for cd (all traffic to the primary), or brings
	// an existing one back in line with cd's spec. The weights SetRoutes wrote are kept while
	// nothing else changed.
	Reconcile(ctx context.Context, cd *flaggerv1.Canary) error
	// SetRoutes sends primaryWeight and canaryWeight (out of 100) to the primary and canary
	// Services, and mirrors the primary's traffic to the canary when mirrored is set. With
	// analysis.sessionAffinity it sets cd.Status.SessionAffinityCookie and
	// PreviousSessionAffinityCookie as Flagger does: the caller persists cd's status.
	SetRoutes(ctx context.Context, cd *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error
	// GetRoutes reads back the weights and whether traffic is mirrored.
	GetRoutes(ctx context.Context, cd *flaggerv1.Canary) (primaryWeight, canaryWeight int, mirrored bool, err error)
	// Finalize is what Flagger does to the provider's objects when a Canary with
	// spec.revertOnDeletion is deleted.
	Finalize(ctx context.Context, cd *flaggerv1.Canary) error
}

// Provider names, as spec.provider spells them.
const (
	Kubernetes        = flaggerv1.KubernetesProvider
	Istio             = "istio"
	NGINX             = "nginx"
	GatewayAPI        = "gatewayapi"
	GatewayAPIV1      = "gatewayapi:v1"
	GatewayAPIV1Beta1 = "gatewayapi:v1beta1"
)

// DefaultProvider is the provider of a Canary without spec.provider: Flagger's default
// -mesh-provider.
const DefaultProvider = Istio

// Supported lists the providers New accepts.
var Supported = []string{Kubernetes, Istio, NGINX, GatewayAPI, GatewayAPIV1, GatewayAPIV1Beta1}

// ErrUnsupportedProvider is the error (wrapped) of New for a provider Vane does not route.
var ErrUnsupportedProvider = errors.New("provider not supported")

// DefaultIngressAnnotationsPrefix is the prefix of ingress-nginx's annotations (Flagger's
// -ingress-annotations-prefix default).
const DefaultIngressAnnotationsPrefix = "nginx.ingress.kubernetes.io"

// Option changes how New's router works.
type Option func(*options)

type options struct {
	ingressPrefix string
}

// IngressAnnotationsPrefix sets the prefix of the nginx router's canary annotations (default
// DefaultIngressAnnotationsPrefix).
func IngressAnnotationsPrefix(prefix string) Option {
	return func(o *options) { o.ingressPrefix = prefix }
}

// New returns the router of provider (a Canary's spec.provider; "" is DefaultProvider) that
// reads and writes through c. A provider Vane does not route is an error wrapping
// ErrUnsupportedProvider.
func New(provider string, c client.Client, opts ...Option) (Router, error) {
	o := options{ingressPrefix: DefaultIngressAnnotationsPrefix}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case provider == "":
		return newIstio(c), nil
	case provider == Kubernetes:
		return nopRouter{}, nil
	case provider == Istio:
		return newIstio(c), nil
	case provider == NGINX:
		return &nginxRouter{c: c, prefix: o.ingressPrefix}, nil
	// as Flagger's factory: any gatewayapi:v1beta1... is v1beta1, any other gatewayapi:v1... v1
	case strings.HasPrefix(provider, GatewayAPIV1Beta1):
		return newGatewayAPI(c, "v1beta1"), nil
	case provider == GatewayAPI, strings.HasPrefix(provider, GatewayAPIV1):
		return newGatewayAPI(c, "v1"), nil
	}
	return nil, fmt.Errorf("%w: Vane does not route spec.provider %q; it routes %s",
		ErrUnsupportedProvider, provider, strings.Join(Supported, ", "))
}

// nopRouter is the kubernetes provider's router: there are no routes, and GetRoutes reports
// what blue/green by Service selectors does: all traffic to the canary once iterations run.
type nopRouter struct{}

func (nopRouter) Reconcile(context.Context, *flaggerv1.Canary) error { return nil }

func (nopRouter) SetRoutes(context.Context, *flaggerv1.Canary, int, int, bool) error { return nil }

func (nopRouter) GetRoutes(_ context.Context, cd *flaggerv1.Canary) (int, int, bool, error) {
	if cd.Status.Iterations > 0 {
		return 0, 100, false, nil
	}
	return 100, 0, false, nil
}

func (nopRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }
