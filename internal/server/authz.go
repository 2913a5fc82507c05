package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// sarTTL is how long an access review's answer is reused for the same user, namespace, verb
// and resource.
const sarTTL = 10 * time.Second

// groups of the resources the dashboard reads or changes.
var resourceGroups = map[string]string{
	"rollouts": "argoproj.io", "analysisruns": "argoproj.io", "experiments": "argoproj.io",
	"replicasets": "apps", "pods": "", "events": "",
	"canaries": "flagger.app", "configmaps": "",
}

// access is one question: may the user do verb on resource (with an optional "/subresource")
// in namespace?
type access struct {
	Namespace, Verb, Resource string
}

func (a access) String() string {
	return fmt.Sprintf("%s %s in namespace %q", a.Verb, a.Resource, a.Namespace)
}

type sarKey struct {
	user string
	access
	name string
}

type sarAnswer struct {
	allowed bool
	at      time.Time
}

// authorizer asks the API server, with SubjectAccessReview, what a user may do.
type authorizer struct {
	cs  kubernetes.Interface
	now func() time.Time

	mu      sync.Mutex
	answers map[sarKey]sarAnswer
}

func newAuthorizer(cs kubernetes.Interface) *authorizer {
	return &authorizer{cs: cs, now: time.Now, answers: map[sarKey]sarAnswer{}}
}

// allowed answers for id (always yes in local mode, id nil: the API server checks the
// kubeconfig's user itself).
func (z *authorizer) allowed(ctx context.Context, id *Identity, a access) (bool, error) {
	return z.allowedNamed(ctx, id, a, "")
}

// allowedNamed is allowed for one object of the resource, by name (all of them when empty).
func (z *authorizer) allowedNamed(ctx context.Context, id *Identity, a access, name string) (bool, error) {
	if id == nil {
		return true, nil
	}
	key := sarKey{user: id.User + "\x00" + strings.Join(id.Groups, ","), access: a, name: name}
	z.mu.Lock()
	ans, ok := z.answers[key]
	z.mu.Unlock()
	if ok && z.now().Sub(ans.at) < sarTTL {
		return ans.allowed, nil
	}
	resource, sub, _ := strings.Cut(a.Resource, "/")
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range id.Extra {
		extra[k] = slices.Clone(v)
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: id.User, UID: id.UID, Groups: id.Groups, Extra: extra,
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: a.Namespace, Verb: a.Verb,
			Group: resourceGroups[resource], Resource: resource, Subresource: sub, Name: name},
	}}
	res, err := z.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("asking whether %s may %s: %w", id.User, a, err)
	}
	z.mu.Lock()
	z.answers[key] = sarAnswer{allowed: res.Status.Allowed, at: z.now()}
	if len(z.answers) > 10000 { // forget everything rather than grow without bound
		clear(z.answers)
	}
	z.mu.Unlock()
	return res.Status.Allowed, nil
}

// ForbiddenError is an action or read the user may not do; its message names the verb and
// the resource.
type ForbiddenError struct {
	User   string
	Access access
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("forbidden: %s may not %s", e.User, e.Access)
}

// require fails with a ForbiddenError unless id may do every access.
func (z *authorizer) require(ctx context.Context, id *Identity, all ...access) error {
	for _, a := range all {
		ok, err := z.allowed(ctx, id, a)
		if err != nil {
			return err
		}
		if !ok {
			return &ForbiddenError{User: id.User, Access: a}
		}
	}
	return nil
}
