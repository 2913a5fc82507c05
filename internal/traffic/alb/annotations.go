package alb

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/traffic/common"
)

// The JSON the AWS Load Balancer Controller reads from an Ingress's actions.<name> and
// conditions.<name> annotations, in the member order (and with the encoding of
// encoding/json) that Argo Rollouts writes, so that the annotations are the same byte for
// byte.

// action is an actions.<name> annotation: forward to weighted target groups.
type action struct {
	Type          string        `json:"Type"`
	ForwardConfig forwardConfig `json:"ForwardConfig"`
}

type forwardConfig struct {
	TargetGroups                []targetGroup `json:"TargetGroups"`
	TargetGroupStickinessConfig *stickiness   `json:"TargetGroupStickinessConfig,omitempty"`
}

type stickiness struct {
	Enabled         bool  `json:"Enabled"`
	DurationSeconds int64 `json:"DurationSeconds"`
}

// targetGroup is a Service and port with its weight.
type targetGroup struct {
	ServiceName string `json:"ServiceName,omitempty"`
	ServicePort string `json:"ServicePort,omitempty"`
	Weight      *int64 `json:"Weight,omitempty"`
}

// condition is one entry of a conditions.<name> annotation: a header and its values.
type condition struct {
	Field            string       `json:"field"`
	HTTPHeaderConfig headerConfig `json:"httpHeaderConfig"`
}

type headerConfig struct {
	HTTPHeaderName string   `json:"httpHeaderName"`
	Values         []string `json:"values"`
}

// maxStickiness is the longest target group stickiness the ELB API accepts (7 days).
const maxStickiness = 604800

// group is a target group entry of service at port with weight w.
func group(service string, port int32, w int32) targetGroup {
	weight := int64(w)
	return targetGroup{ServiceName: service, ServicePort: strconv.Itoa(int(port)), Weight: &weight}
}

// forward encodes a forward action to groups, with the stickiness the Rollout asks for.
func forward(a *v1alpha1.ALBTrafficRouting, groups []targetGroup) string {
	act := action{Type: "forward", ForwardConfig: forwardConfig{TargetGroups: groups}}
	if s := a.StickinessConfig; s != nil && s.Enabled {
		act.ForwardConfig.TargetGroupStickinessConfig = &stickiness{Enabled: true, DurationSeconds: s.DurationSeconds}
	}
	b, _ := json.Marshal(act) // plain strings and numbers: never fails
	return string(b)
}

// weightedAction is the action of the root Service: the canary, the additional destinations
// (an Experiment's) and the stable, in that order, splitting w's total.
func weightedAction(ro *v1alpha1.Rollout, w common.Weights) string {
	a := ro.Spec.Strategy.Canary.TrafficRouting.ALB
	stable, canary := services(ro)
	groups := []targetGroup{group(canary, a.ServicePort, w.Canary)}
	for _, d := range w.Additional {
		groups = append(groups, group(d.ServiceName, a.ServicePort, d.Weight))
	}
	return forward(a, append(groups, group(stable, a.ServicePort, w.Stable)))
}

// headerAction is the action of a header route: everything to the canary.
func headerAction(ro *v1alpha1.Rollout) string {
	a := ro.Spec.Strategy.Canary.TrafficRouting.ALB
	_, canary := services(ro)
	return forward(a, []targetGroup{group(canary, a.ServicePort, 100)})
}

// headerConditions encodes the matches of a header route: one http-header condition per
// header name, the exact values of the matches naming it in order.
func headerConditions(match []v1alpha1.HeaderRoutingMatch) string {
	var out []condition
	for _, m := range match {
		i := slices.IndexFunc(out, func(c condition) bool { return c.HTTPHeaderConfig.HTTPHeaderName == m.HeaderName })
		if i < 0 {
			out = append(out, condition{Field: "http-header", HTTPHeaderConfig: headerConfig{HTTPHeaderName: m.HeaderName}})
			i = len(out) - 1
		}
		out[i].HTTPHeaderConfig.Values = append(out[i].HTTPHeaderConfig.Values, m.HeaderValue.Exact)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

// parseAction decodes an actions.<name> annotation.
func parseAction(s string) (action, error) {
	var a action
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, fmt.Errorf("is not an ALB action: %w", err)
	}
	return a, nil
}

// managedAnnotations is the bookkeeping annotation Argo keeps on the Ingress: the annotation
// keys each Rollout (by name) manages.
type managedAnnotations map[string][]string

// readManaged decodes the bookkeeping annotation of ann (empty when absent).
func readManaged(ann map[string]string) (managedAnnotations, error) {
	m := managedAnnotations{}
	s, ok := ann[ManagedAnnotations]
	if !ok || s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// mark records in ann's bookkeeping annotation that rollout manages keys (add), or no longer
// does; the rollout's entry stays, possibly empty, as Argo leaves it.
func mark(ann map[string]string, rollout string, add bool, keys ...string) error {
	m, err := readManaged(ann)
	if err != nil {
		return err
	}
	own := m[rollout]
	if own == nil {
		own = []string{}
	}
	for _, k := range keys {
		has := slices.Contains(own, k)
		switch {
		case add && !has:
			own = append(own, k)
		case !add && has:
			own = slices.DeleteFunc(own, func(s string) bool { return s == k })
		}
	}
	m[rollout] = own
	b, _ := json.Marshal(m)
	ann[ManagedAnnotations] = string(b)
	return nil
}
