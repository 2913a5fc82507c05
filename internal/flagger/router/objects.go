package router

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/traffic/common"
)

const (
	// kubectlAnnotation holds what `kubectl apply` last applied.
	kubectlAnnotation = "kubectl.kubernetes.io/last-applied-configuration"
	// configAnnotation is where Flagger keeps a VirtualService's spec before it rewrote it.
	configAnnotation = "flagger.kubernetes.io/original-configuration"

	cookieHeader    = "Cookie"
	setCookieHeader = "Set-Cookie"
	// stickyRouteName names the Istio HTTP route of session affinity.
	stickyRouteName = "sticky-route"
	// defaultCookieMaxAge is a session-affinity cookie's Max-Age without analysis.sessionAffinity.maxAge.
	defaultCookieMaxAge = 86400
)

// toolkitAnnotations are the annotations Flagger puts on the objects it generates so that Flux
// does not revert them.
var toolkitAnnotations = map[string]string{
	"kustomize.toolkit.fluxcd.io/reconcile": "disabled",
	"helm.toolkit.fluxcd.io/driftDetection": "disabled",
}

// apexMetadata returns the labels and annotations of a generated route: spec.service.apex's,
// and the toolkit annotations.
func apexMetadata(cd *flaggerv1.Canary) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	if m := cd.Spec.Service.Apex; m != nil {
		maps.Copy(labels, m.Labels)
		maps.Copy(annotations, m.Annotations)
	}
	maps.Copy(annotations, toolkitAnnotations)
	return labels, annotations
}

// newObject is an object of kind gvk named name in cd's namespace, controlled by cd.
func newObject(gvk schema.GroupVersionKind, cd *flaggerv1.Canary, name string, labels, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(cd.Namespace)
	u.SetName(name)
	if len(labels) > 0 {
		u.SetLabels(labels)
	}
	if len(annotations) > 0 {
		u.SetAnnotations(annotations)
	}
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(cd, flaggerv1.GroupVersion.WithKind("Canary"))})
	return u
}

// create creates u; a refusal of the API server is an Invalid Error on u's spec.
func create(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	if err := c.Create(ctx, u); err != nil {
		if apierrors.IsInvalid(err) {
			return common.Invalidf(u.GetKind(), u.GetNamespace(), u.GetName(), "spec", "the API server refused it: %v", err)
		}
		return fmt.Errorf("creating %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	log.FromContext(ctx).Info("created", "kind", u.GetKind(), "namespace", u.GetNamespace(), "name", u.GetName())
	return nil
}

// save writes what changed from orig to u, and nothing when nothing did.
func save(ctx context.Context, c client.Client, orig, u *unstructured.Unstructured) error {
	if apiequality.Semantic.DeepEqual(orig.Object, u.Object) {
		return nil
	}
	if err := common.Patch(ctx, c, orig, u); err != nil {
		return err
	}
	log.FromContext(ctx).Info("updated", "kind", u.GetKind(), "namespace", u.GetNamespace(), "name", u.GetName())
	return nil
}

// mergeMetadata sets labels and annotations on u and leaves its others as they are.
func mergeMetadata(u *unstructured.Unstructured, labels, annotations map[string]string) {
	if m, changed := merged(u.GetLabels(), labels); changed {
		u.SetLabels(m)
	}
	if m, changed := merged(u.GetAnnotations(), annotations); changed {
		u.SetAnnotations(m)
	}
}

func merged(have, want map[string]string) (map[string]string, bool) {
	out := maps.Clone(have)
	if out == nil {
		out = map[string]string{}
	}
	changed := false
	for k, v := range want {
		if old, ok := out[k]; !ok || old != v {
			out[k] = v
			changed = true
		}
	}
	return out, changed
}

// invalidf is the error for a Canary setting the router cannot use.
func invalidf(cd *flaggerv1.Canary, field, format string, args ...any) error {
	return &common.Error{Reason: common.Invalid, Kind: "Canary", Namespace: cd.Namespace, Name: cd.Name,
		Field: field, Message: fmt.Sprintf(format, args...)}
}

// unsupportedf is the error for a Canary asking for something the provider cannot do.
func unsupportedf(cd *flaggerv1.Canary, field, format string, args ...any) error {
	return &common.Error{Reason: common.Unsupported, Kind: "Canary", Namespace: cd.Namespace, Name: cd.Name,
		Field: field, Message: fmt.Sprintf(format, args...)}
}

// extra returns the members of f that view type V does not hold: a view built anew takes them
// from the one it replaces, so that they are written back as they were.
func extra[V any](f common.Fields) common.Fields {
	out := maps.Clone(f)
	t := reflect.TypeFor[V]()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = t.Field(i).Name
		}
		delete(out, name)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Session affinity.

var cookieLetters = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

// newCookie is a new session-affinity cookie "<name>=<10 random letters>", as Flagger makes them.
func newCookie(name string) string {
	b := make([]rune, 10)
	for i := range b {
		b[i] = cookieLetters[rand.IntN(len(cookieLetters))]
	}
	return name + "=" + string(b)
}

// cookieRegex matches a Cookie header that holds cookie ("<name>=<value>").
func cookieRegex(cookie string) string {
	name, value, _ := strings.Cut(cookie, "=")
	return fmt.Sprintf(".*%s.*%s.*", name, value)
}

// setCookie is the Set-Cookie value of cookie with its Max-Age.
func setCookie(cookie string, maxAge int32) string {
	return fmt.Sprintf("%s; Max-Age=%d", cookie, maxAge)
}

func cookieMaxAge(sa *flaggerv1.SessionAffinity) int32 {
	if sa.MaxAge == 0 {
		return defaultCookieMaxAge
	}
	return sa.MaxAge
}

// affinityCookies advances cd's session-affinity cookies as Flagger does for a canary weight:
// while the canary gets traffic, the current cookie (made when there is none); once it gets
// none, the current cookie becomes the previous one. It returns the current cookie ("" when the
// canary gets no traffic) and the previous one.
func affinityCookies(cd *flaggerv1.Canary, canaryWeight int) (current, previous string) {
	st := &cd.Status
	if canaryWeight != 0 {
		if st.SessionAffinityCookie == "" {
			st.SessionAffinityCookie = newCookie(cd.Spec.Analysis.SessionAffinity.CookieName)
		}
		return st.SessionAffinityCookie, st.PreviousSessionAffinityCookie
	}
	if st.SessionAffinityCookie != "" {
		st.PreviousSessionAffinityCookie = st.SessionAffinityCookie
	}
	st.SessionAffinityCookie = ""
	return "", st.PreviousSessionAffinityCookie
}

// sessionAffinity is analysis.sessionAffinity, or nil.
func sessionAffinity(cd *flaggerv1.Canary) *flaggerv1.SessionAffinity {
	return cd.AnalysisSpec().SessionAffinity
}

// mirrorWeight is analysis.mirrorWeight (0 when unset).
func mirrorWeight(cd *flaggerv1.Canary) int32 {
	if w := cd.AnalysisSpec().MirrorWeight; w != nil {
		return *w
	}
	return 0
}

// inProgress reports whether cd's analysis is running (Flagger keeps mirror filters then).
func inProgress(cd *flaggerv1.Canary) bool {
	switch cd.Status.Phase {
	case flaggerv1.PhaseWaiting, flaggerv1.PhaseProgressing, flaggerv1.PhaseWaitingPromotion:
		return true
	}
	return false
}

// containsCookie reports whether a Cookie-header regex names cookie ("" matches any).
func containsCookie(regex, cookie string) bool { return strings.Contains(regex, cookie) }
