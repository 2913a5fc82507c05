package server

import (
	"context"
	"errors"
	"fmt"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
)

// KindCanary is the Kind of a Ref that names a Flagger Canary.
const KindCanary = "Canary"

// flaggerSupport is what the dashboard shows of Flagger: Canaries when the cluster serves
// them and the server may watch them, and their gates when it may watch vane gate's
// ConfigMaps too; otherwise the reason, which the canary pages and API give.
type flaggerSupport struct {
	canaries, gates       bool
	canariesWhy, gatesWhy string
}

// errNoCanaries is a canary page or API call on a dashboard that does not show Canaries.
var errNoCanaries = errors.New("this dashboard does not show Flagger canaries")

// canariesError says why the dashboard does not show Canaries (nil when it does).
func (f flaggerSupport) canariesError() error {
	if f.canaries {
		return nil
	}
	return fmt.Errorf("%w: %s", errNoCanaries, f.canariesWhy)
}

// kindsText names the Flagger kinds watched, for the sync timeout's message.
func (f flaggerSupport) kindsText() string {
	switch {
	case f.gates:
		return ", canaries, gate ConfigMaps"
	case f.canaries:
		return ", canaries"
	}
	return ""
}

// detectFlagger decides what the dashboard shows of Flagger: the scheme must know Canaries,
// the cluster must serve them, and the server's own identity must be allowed to list and
// watch them (and, for the gates, the ConfigMap vane gate keeps them in) where it serves; a
// dashboard without them still shows rollouts.
func (s *Server) detectFlagger(ctx context.Context) (flaggerSupport, error) {
	gvk := flaggerv1beta1.GroupVersion.WithKind("Canary")
	if !s.opts.Scheme.Recognizes(gvk) {
		return flaggerSupport{canariesWhy: "the dashboard's scheme does not know " + gvk.GroupVersion().String()}, nil
	}
	if _, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); meta.IsNoMatchError(err) {
		return flaggerSupport{canariesWhy: fmt.Sprintf("the cluster at %s does not serve %s Canaries (the CRD canaries.flagger.app is not installed)",
			s.opts.Config.Host, gvk.GroupVersion())}, nil
	} else if err != nil {
		return flaggerSupport{}, fmt.Errorf("looking up %s Canaries: %w", gvk.GroupVersion(), err)
	}
	var f flaggerSupport
	ok, err := s.mayWatch(ctx, "flagger.app", "canaries", "")
	if err != nil {
		return f, err
	}
	if !ok {
		f.canariesWhy = "the dashboard's own identity may not list and watch canaries.flagger.app"
		return f, nil
	}
	f.canaries = true
	if f.gates, err = s.mayWatch(ctx, "", "configmaps", gate.ConfigMapName); err != nil {
		return f, err
	}
	if !f.gates {
		f.gatesWhy = fmt.Sprintf("the dashboard's own identity may not list and watch the ConfigMaps %s", gate.ConfigMapName)
	}
	return f, nil
}

// mayWatch asks the API server (SelfSubjectAccessReview) whether the server's identity may
// list and watch resource (only the object name, when set) in every namespace it serves.
func (s *Server) mayWatch(ctx context.Context, group, resource, name string) (bool, error) {
	spaces := s.opts.Namespaces
	if len(spaces) == 0 {
		spaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range spaces {
		for _, verb := range []string{"list", "watch"} {
			review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: group, Resource: resource, Name: name}}}
			res, err := s.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			if err != nil {
				return false, fmt.Errorf("asking whether the dashboard may %s %s: %w", verb, resource, err)
			}
			if !res.Status.Allowed {
				return false, nil
			}
		}
	}
	return true, nil
}

// watchFlagger adds the informers of the Flagger kinds shown (Canaries, then the gate
// ConfigMaps) to the store, with the handler that announces their Canaries' changes.
func (s *store) watchFlagger(ctx context.Context) error {
	var kinds []client.Object
	if s.flagger.canaries {
		kinds = append(kinds, &flaggerv1beta1.Canary{})
		log.FromContext(ctx).Info("showing Flagger canaries", "gates", s.flagger.gates)
	} else {
		log.FromContext(ctx).Info("not showing Flagger canaries", "reason", s.flagger.canariesWhy)
	}
	if s.flagger.gates {
		kinds = append(kinds, &corev1.ConfigMap{})
	} else if s.flagger.canaries {
		log.FromContext(ctx).Info("not showing the canaries' gates", "reason", s.flagger.gatesWhy)
	}
	for _, obj := range kinds {
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(s.handler()); err != nil {
			return fmt.Errorf("event handler for %T: %w", obj, err)
		}
	}
	return nil
}

// canariesOf are the Canaries a change concerns: a Canary itself, or every Canary of the
// namespace of a gate ConfigMap (it holds the gates of all of them).
func (s *store) canariesOf(ctx context.Context, o client.Object) []Ref {
	switch v := o.(type) {
	case *flaggerv1beta1.Canary:
		return []Ref{{Kind: KindCanary, Namespace: v.Namespace, Name: v.Name}}
	case *corev1.ConfigMap:
		if v.Name != gate.ConfigMapName || !s.flagger.canaries {
			return nil
		}
		var list flaggerv1beta1.CanaryList
		if err := s.cache.List(ctx, &list, client.InNamespace(v.Namespace), client.UnsafeDisableDeepCopy); err != nil {
			return nil
		}
		refs := make([]Ref, 0, len(list.Items))
		for _, cn := range list.Items {
			refs = append(refs, Ref{Kind: KindCanary, Namespace: cn.Namespace, Name: cn.Name})
		}
		return refs
	}
	return nil
}
