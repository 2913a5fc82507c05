// Package common holds what every traffic router shares: the error that names a router object
// and its offending field, the split of a weight between canary, stable and additional
// destinations, and small helpers over the Rollout's traffic-routing spec.
package common

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Reason classifies a router error for the condition the reconciler reports.
type Reason string

// Reasons of router errors. Each is a problem the user must fix in a router object or in the
// Rollout; transient API errors are returned as they are instead.
const (
	// NotFound: a router object the Rollout names does not exist.
	NotFound Reason = "NotFound"
	// Invalid: a router object (or the Rollout's router settings) cannot be used as it is.
	Invalid Reason = "Invalid"
	// Conflict: an object the router would own is controlled by something else.
	Conflict Reason = "Conflict"
	// Unsupported: the Rollout asks for something this router (or Vane) does not do.
	Unsupported Reason = "Unsupported"
)

// Error is a problem with a router object: which object, which field, and why. Nothing was
// changed when a router returns one.
type Error struct {
	Reason Reason
	// Kind, Namespace and Name identify the object (Kind "Rollout" for the Rollout's own
	// router settings).
	Kind, Namespace, Name string
	// Field is the path of the offending field within that object (for NotFound: the Rollout
	// field that names the object).
	Field string
	// Message says what is wrong.
	Message string
}

// Error names the object, the field and what is wrong.
func (e *Error) Error() string {
	obj := e.Kind
	if e.Name != "" {
		obj += " " + e.Namespace + "/" + e.Name
		if e.Namespace == "" {
			obj = e.Kind + " " + e.Name
		}
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", obj, e.Message)
	}
	return fmt.Sprintf("%s: %s: %s", obj, e.Field, e.Message)
}

// AsError returns the router Error inside err, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Missing is the error for an object the Rollout names that does not exist; field is the
// Rollout field naming it.
func Missing(kind, namespace, name, field string) *Error {
	return &Error{Reason: NotFound, Kind: kind, Namespace: namespace, Name: name, Field: field,
		Message: fmt.Sprintf("%s %q not found in namespace %q", kind, name, namespace)}
}

// Invalidf is the error for a router object that cannot be used as it is.
func Invalidf(kind, namespace, name, field, format string, args ...any) *Error {
	return &Error{Reason: Invalid, Kind: kind, Namespace: namespace, Name: name, Field: field, Message: fmt.Sprintf(format, args...)}
}

// RolloutInvalidf is the error for router settings of the Rollout that cannot be used.
func RolloutInvalidf(ro *v1alpha1.Rollout, field, format string, args ...any) *Error {
	return &Error{Reason: Invalid, Kind: "Rollout", Namespace: ro.Namespace, Name: ro.Name, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unsupportedf is the error for a request the router does not implement.
func Unsupportedf(ro *v1alpha1.Rollout, field, format string, args ...any) *Error {
	return &Error{Reason: Unsupported, Kind: "Rollout", Namespace: ro.Namespace, Name: ro.Name, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Conflictf is the error for an object the router would own that something else controls.
func Conflictf(kind, namespace, name, format string, args ...any) *Error {
	return &Error{Reason: Conflict, Kind: kind, Namespace: namespace, Name: name, Field: "metadata.ownerReferences", Message: fmt.Sprintf(format, args...)}
}

// TrafficRoutingPath is the Rollout field of the traffic-routing settings.
const TrafficRoutingPath = "spec.strategy.canary.trafficRouting"

// Canary returns the canary strategy and its traffic routing, or an error when either is unset.
func Canary(ro *v1alpha1.Rollout) (*v1alpha1.CanaryStrategy, *v1alpha1.RolloutTrafficRouting, error) {
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return nil, nil, RolloutInvalidf(ro, TrafficRoutingPath, "the Rollout has no canary trafficRouting")
	}
	return c, c.TrafficRouting, nil
}

// Weights is how a router splits traffic: the canary's weight, the stable's (the rest) and the
// additional destinations (experiments), all out of Total.
type Weights struct {
	Canary, Stable, Total int32
	Additional            []v1alpha1.WeightDestination
}

// Split computes the weights of canary weight out of the Rollout's maxTrafficWeight: the stable
// Service gets what the canary and the additional destinations leave (never below 0).
func Split(ro *v1alpha1.Rollout, weight int32, additional []v1alpha1.WeightDestination) Weights {
	total := v1alpha1.DefaultMaxTrafficWeight
	if c := ro.Spec.Strategy.Canary; c != nil {
		total = c.EffectiveMaxTrafficWeight()
	}
	w := Weights{Canary: min(max(weight, 0), total), Total: total, Additional: additional}
	rest := total - w.Canary
	for _, a := range additional {
		rest -= a.Weight
	}
	w.Stable = max(rest, 0)
	return w
}

// AdditionalWeight returns the weight of the additional destination for service, and whether
// there is one.
func (w Weights) AdditionalWeight(service string) (int32, bool) {
	for _, a := range w.Additional {
		if a.ServiceName == service {
			return a.Weight, true
		}
	}
	return 0, false
}

// ManagedRouteIndex is the position of name in trafficRouting.managedRoutes (its precedence),
// or -1.
func ManagedRouteIndex(tr *v1alpha1.RolloutTrafficRouting, name string) int {
	for i, r := range tr.ManagedRoutes {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// CheckManagedRoute returns an error unless name is listed in trafficRouting.managedRoutes.
func CheckManagedRoute(ro *v1alpha1.Rollout, tr *v1alpha1.RolloutTrafficRouting, step, name string) error {
	if name == "" {
		return RolloutInvalidf(ro, "spec.strategy.canary.steps[]."+step+".name", "the route needs a name listed in %s.managedRoutes", TrafficRoutingPath)
	}
	if ManagedRouteIndex(tr, name) < 0 {
		return RolloutInvalidf(ro, "spec.strategy.canary.steps[]."+step+".name",
			"route %q is not listed in %s.managedRoutes", name, TrafficRoutingPath)
	}
	return nil
}

// PrefixRegex turns a prefix match into an anchored regular expression.
func PrefixRegex(prefix string) string { return "^" + regexp.QuoteMeta(prefix) + ".*" }

// ServiceHost reports whether host (an Istio destination host) names the Service svc in
// namespace ns: "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.<cluster domain>".
func ServiceHost(host, svc, ns string) bool {
	if svc == "" {
		return false
	}
	if host == svc || host == svc+"."+ns || host == svc+"."+ns+".svc" {
		return true
	}
	return strings.HasPrefix(host, svc+"."+ns+".svc.")
}

// ControlledBy reports whether obj's controller owner reference is the Rollout.
func ControlledBy(obj metav1.Object, ro *v1alpha1.Rollout) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == ro.UID
}

// OwnerReference makes the Rollout the controller owner of an object the router creates, so
// that it is deleted with the Rollout.
func OwnerReference(ro *v1alpha1.Rollout) metav1.OwnerReference {
	return *metav1.NewControllerRef(ro, schema.GroupVersionKind{Group: v1alpha1.GroupVersion.Group,
		Version: v1alpha1.GroupVersion.Version, Kind: "Rollout"})
}
