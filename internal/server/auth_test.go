package server

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// reviewer answers TokenReviews: "good" is alice, anything else is refused; it counts calls.
func reviewer(calls *int) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		*calls++
		tr := a.(k8stesting.CreateAction).GetObject().(*authnv1.TokenReview)
		if tr.Spec.Token == "good" {
			tr.Status = authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: "alice", Groups: []string{"dev"}}}
		}
		return true, tr, nil
	})
	return cs
}

func TestAuthenticator(t *testing.T) {
	calls := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newAuthenticator(reviewer(&calls))
	a.now = func() time.Time { return now }
	ctx := context.Background()
	if _, err := a.login(ctx, "bad"); !errors.Is(err, errBadToken) {
		t.Errorf("a bad token: %v, want errBadToken", err)
	}
	s, err := a.login(ctx, " good\n")
	if err != nil || s.identity.User != "alice" || s.id == s.csrf || len(s.id) < 40 {
		t.Fatalf("login: %+v %v", s, err)
	}
	steps := map[string]bool{}
	_, steps["found at once"] = a.lookup(ctx, s.id)
	now = now.Add(2 * reviewTTL)
	_, steps["found after a new review"] = a.lookup(ctx, s.id)
	_, steps["an unknown id"] = a.lookup(ctx, "nope")
	now = now.Add(sessionTTL)
	_, steps["expired"] = a.lookup(ctx, s.id)
	want := map[string]bool{"found at once": true, "found after a new review": true, "an unknown id": false, "expired": false}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("lookups (-want +got):\n%s", diff)
	}
	if calls != 3 {
		t.Errorf("%d TokenReviews, want 3 (bad login, login, review after %s)", calls, reviewTTL)
	}
	for range 3 {
		if id, err := a.bearer(ctx, "good"); err != nil || id.User != "alice" {
			t.Fatalf("bearer: %v %v", id, err)
		}
	}
	if calls != 4 {
		t.Errorf("%d TokenReviews after 3 bearer requests, want 4 (the answer is cached)", calls)
	}
}

func TestAuthorizerCache(t *testing.T) {
	var asked []string
	cs := fake.NewClientset()
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		asked = append(asked, sar.Spec.User+" "+ra.Verb+" "+ra.Group+"/"+ra.Resource+"/"+ra.Subresource)
		sar.Status.Allowed = ra.Verb == "get"
		return true, sar, nil
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	z := newAuthorizer(cs)
	z.now = func() time.Time { return now }
	ctx := context.Background()
	alice := &Identity{User: "alice"}
	for range 2 {
		if err := z.require(ctx, alice, access{"shop", "get", "rollouts"}); err != nil {
			t.Fatal(err)
		}
	}
	err := z.require(ctx, alice, access{"shop", "patch", "rollouts/status"})
	var fe *ForbiddenError
	if !errors.As(err, &fe) || err.Error() != `forbidden: alice may not patch rollouts/status in namespace "shop"` {
		t.Errorf("forbidden: %v", err)
	}
	now = now.Add(sarTTL + time.Second)
	_ = z.require(ctx, alice, access{"shop", "get", "rollouts"})
	if ok, _ := z.allowed(ctx, nil, access{"shop", "delete", "rollouts"}); !ok {
		t.Error("local mode (no identity) is not filtered")
	}
	sort.Strings(asked)
	want := []string{"alice get argoproj.io/rollouts/", "alice get argoproj.io/rollouts/", "alice patch argoproj.io/rollouts/status"}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("reviews asked (-want +got):\n%s", diff)
	}
}

func TestHubCoalesces(t *testing.T) {
	h := newHub()
	s := h.subscribe()
	for range 3 {
		h.notify(Ref{Namespace: "shop", Name: "a"})
	}
	h.notify(Ref{Namespace: "shop", Name: "b"})
	<-s.ready
	got, health := s.take()
	if health {
		t.Error("a rollout change reported as a change of the cluster's health")
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	if diff := cmp.Diff([]Ref{{Namespace: "shop", Name: "a"}, {Namespace: "shop", Name: "b"}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	h.unsubscribe(s)
	h.notify(Ref{Namespace: "shop", Name: "c"})
	if refs, _ := s.take(); len(refs) != 0 {
		t.Error("an unsubscribed stream still collects changes")
	}
}

func TestPagesRender(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	d := &Detail{Summary: summarize(canaryRollout(1, true, false), nil), Track: []StepView{{1, "weight 25%", "current"}}}
	cases := map[string]struct {
		name string
		data any
	}{
		"list":    {"list.html", &page{List: &RolloutList{Items: []Summary{d.Summary}}}},
		"rollout": {"rollout.html", &page{Name: "app", Namespace: "shop", Detail: d}},
		"login":   {"login.html", map[string]any{"Title": "Log in", "Message": "no"}},
		"error":   {"error.html", map[string]any{"Title": "Forbidden", "Error": errorBody{Code: 403, Verb: "patch", Resource: "rollouts/status"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var b bytesBuffer
			if err := p.ExecuteTemplate(&b, c.name, c.data); err != nil || b.n == 0 {
				t.Errorf("rendering %s: %v (%d bytes)", c.name, err, b.n)
			}
		})
	}
}

type bytesBuffer struct{ n int }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.n += len(p); return len(p), nil }
