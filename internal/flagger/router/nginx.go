package router

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/traffic/common"
)

var ingressGVK = schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}

// nginxRouter manages the Ingress <ingress>-canary of the nginx provider: a copy of the
// Ingress spec.ingressRef names, whose backend is the canary Service and whose ingress-nginx
// canary annotations say what traffic it gets.
type nginxRouter struct {
	c      client.Client
	prefix string
}

func (r *nginxRouter) ann(name string) string { return r.prefix + "/" + name }

// abRoute is what ingress-nginx routes to the canary in A/B testing: one cookie, one header.
type abRoute struct {
	cookie, header, value, pattern string
}

// check refuses what ingress-nginx cannot do, and returns the A/B route of analysis.match.
func (r *nginxRouter) check(cd *flaggerv1.Canary) (ab abRoute, err error) {
	if cd.Spec.IngressRef == nil || cd.Spec.IngressRef.Name == "" {
		return ab, invalidf(cd, "spec.ingressRef", "the nginx provider needs the Ingress to route through")
	}
	if cd.Mirror() {
		return ab, unsupportedf(cd, "spec.analysis.mirror", "ingress-nginx cannot mirror traffic to the canary")
	}
	if sessionAffinity(cd) != nil {
		return ab, unsupportedf(cd, "spec.analysis.sessionAffinity", "the nginx provider has no session affinity")
	}
	for i, m := range cd.AnalysisSpec().Match {
		field := fmt.Sprintf("spec.analysis.match[%d]", i)
		if len(m.QueryParams) > 0 {
			return ab, unsupportedf(cd, field+".queryParams", "ingress-nginx routes a canary by a header or a cookie, not by query parameters")
		}
		if len(m.SourceLabels) > 0 {
			return ab, unsupportedf(cd, field+".sourceLabels", "ingress-nginx cannot match the labels of the calling workload")
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			if err := ab.add(cd, fmt.Sprintf("%s.headers[%s]", field, name), name, strMatch(m.Headers[name])); err != nil {
				return ab, err
			}
		}
	}
	return ab, nil
}

// add adds the match of header name to ab: "cookie" names the cookie, any other the header.
func (ab *abRoute) add(cd *flaggerv1.Canary, field, name string, m strMatch) error {
	if name == "cookie" {
		switch {
		case m.Exact == "":
			return unsupportedf(cd, field, "ingress-nginx routes by the name of a cookie: set exact to it")
		case ab.cookie != "" && ab.cookie != m.Exact:
			return unsupportedf(cd, field, "ingress-nginx routes by one cookie only, and %q is matched already", ab.cookie)
		}
		ab.cookie = m.Exact
		return nil
	}
	if ab.header != "" && ab.header != name {
		return unsupportedf(cd, field, "ingress-nginx routes by one header only, and %q is matched already", ab.header)
	}
	exact, value, err := m.exactOrRegex(cd, field, "ingress-nginx")
	if err != nil {
		return err
	}
	ab.header = name
	if exact {
		ab.value = value
	} else {
		ab.pattern = value
	}
	return nil
}

// Reconcile creates the canary Ingress from spec.ingressRef's Ingress, or brings its spec back
// in line with that Ingress; its metadata is left to SetRoutes (and to the user).
func (r *nginxRouter) Reconcile(ctx context.Context, cd *flaggerv1.Canary) error {
	if _, err := r.check(cd); err != nil {
		return err
	}
	apex, _, canary := cd.ServiceNames()
	ref := cd.Spec.IngressRef.Name
	ing, err := common.GetExisting(ctx, r.c, ingressGVK, cd.Namespace, ref, "spec.ingressRef.name", "networking.k8s.io/v1")
	if err != nil {
		return err
	}
	spec, found := canarySpec(ing, apex, canary)
	if !found {
		return common.Invalidf("Ingress", cd.Namespace, ref, "spec.rules", "no path has a backend to the Service %q", apex)
	}
	name := ref + "-canary"
	u, exists, err := common.Get(ctx, r.c, ingressGVK, cd.Namespace, name, "", "networking.k8s.io/v1")
	if err != nil {
		return err
	}
	if !exists {
		u = newObject(ingressGVK, cd, name, ing.GetLabels(), r.resetAnnotations(ing.GetAnnotations()))
		u.Object["spec"] = spec
		return create(ctx, r.c, u)
	}
	if apiequality.Semantic.DeepEqual(u.Object["spec"], spec) {
		return nil
	}
	orig := u.DeepCopy()
	u.Object["spec"] = spec
	return save(ctx, r.c, orig, u)
}

// canarySpec is a copy of ing's spec whose backends to the Service apex go to canary; found
// is whether there was one.
func canarySpec(ing *unstructured.Unstructured, apex, canary string) (spec map[string]any, found bool) {
	spec, _ = runtime.DeepCopyJSONValue(ing.Object["spec"]).(map[string]any)
	rules, _ := spec["rules"].([]any)
	for _, rl := range rules {
		http, _ := asMap(rl)["http"].(map[string]any)
		paths, _ := http["paths"].([]any)
		for _, p := range paths {
			backend, _ := asMap(p)["backend"].(map[string]any)
			svc, _ := backend["service"].(map[string]any)
			if name, _ := svc["name"].(string); name == apex {
				svc["name"] = canary
				found = true
			}
		}
	}
	return spec, found
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// resetAnnotations is Flagger's annotations of a canary Ingress that gets no traffic: those of
// in, without ingress-nginx's canary annotations and kubectl's, with the toolkit annotations,
// canary "true" and canary-weight "0".
func (r *nginxRouter) resetAnnotations(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if !strings.Contains(k, r.ann("canary")) && k != kubectlAnnotation {
			out[k] = v
		}
	}
	maps.Copy(out, toolkitAnnotations)
	out[r.ann("canary")] = "true"
	out[r.ann("canary-weight")] = "0"
	return out
}

// SetRoutes sets the canary Ingress's canary-weight annotation to canaryWeight, or its
// canary-by-header and canary-by-cookie annotations for analysis.match; once the canary gets
// no traffic, only canary "true" and canary-weight "0" remain.
func (r *nginxRouter) SetRoutes(ctx context.Context, cd *flaggerv1.Canary, _, canaryWeight int, mirrored bool) error {
	ab, err := r.check(cd)
	if err != nil {
		return err
	}
	if mirrored {
		return unsupportedf(cd, "spec.analysis.mirror", "ingress-nginx cannot mirror traffic to the canary")
	}
	u, err := r.canaryIngress(ctx, cd)
	if err != nil {
		return err
	}
	orig := u.DeepCopy()
	ann := maps.Clone(u.GetAnnotations())
	if ann == nil {
		ann = map[string]string{}
	}
	if len(cd.AnalysisSpec().Match) > 0 {
		r.setABAnnotations(ann, ab)
	} else {
		ann[r.ann("canary-weight")] = strconv.Itoa(canaryWeight)
	}
	if canaryWeight > 0 {
		ann[r.ann("canary")] = "true"
	} else {
		ann = r.resetAnnotations(ann)
	}
	u.SetAnnotations(ann)
	return save(ctx, r.c, orig, u)
}

// setABAnnotations sets the canary-by annotations of ab (and removes those ab has not).
func (r *nginxRouter) setABAnnotations(ann map[string]string, ab abRoute) {
	maps.Copy(ann, toolkitAnnotations)
	ann[r.ann("canary")] = "true"
	for name, value := range map[string]string{"canary-by-cookie": ab.cookie, "canary-by-header": ab.header,
		"canary-by-header-value": ab.value, "canary-by-header-pattern": ab.pattern} {
		if value == "" {
			delete(ann, r.ann(name))
		} else {
			ann[r.ann(name)] = value
		}
	}
}

func (r *nginxRouter) canaryIngress(ctx context.Context, cd *flaggerv1.Canary) (*unstructured.Unstructured, error) {
	return common.GetExisting(ctx, r.c, ingressGVK, cd.Namespace, cd.Spec.IngressRef.Name+"-canary", "", "networking.k8s.io/v1")
}

// GetRoutes reads the canary-weight annotation (A/B testing: all matching traffic goes to the
// canary once a canary-by annotation is set); ingress-nginx does not mirror.
func (r *nginxRouter) GetRoutes(ctx context.Context, cd *flaggerv1.Canary) (primaryWeight, canaryWeight int, mirrored bool, err error) {
	if cd.Spec.IngressRef == nil || cd.Spec.IngressRef.Name == "" {
		return 0, 0, false, invalidf(cd, "spec.ingressRef", "the nginx provider needs the Ingress to route through")
	}
	u, err := r.canaryIngress(ctx, cd)
	if err != nil {
		return 0, 0, false, err
	}
	ann := u.GetAnnotations()
	if len(cd.AnalysisSpec().Match) > 0 {
		_, cookie := ann[r.ann("canary-by-cookie")]
		_, header := ann[r.ann("canary-by-header")]
		if cookie || header {
			return 0, 100, false, nil
		}
	}
	if v, ok := ann[r.ann("canary-weight")]; ok {
		if canaryWeight, err = strconv.Atoi(v); err != nil {
			return 0, 0, false, common.Invalidf("Ingress", u.GetNamespace(), u.GetName(),
				"metadata.annotations["+r.ann("canary-weight")+"]", "is %q, not a whole number", v)
		}
	}
	return 100 - canaryWeight, canaryWeight, false, nil
}

// Finalize does nothing: Flagger leaves the canary Ingress as it is (it goes with the Canary).
func (r *nginxRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }
