package rollout

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func TestPutBack(t *testing.T) {
	ing := objKey{gvk: schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, namespace: "shop", name: "web"}
	weighted := map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		"alb.ingress.kubernetes.io/actions.stable": "{20}", "team": "colors"}}, "spec": map[string]any{"rules": []any{"a"}}}
	edited := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			"alb.ingress.kubernetes.io/actions.stable": "{20}", "team": "colors"}}, "spec": map[string]any{"rules": []any{"a"}}}
		mod(m)
		return m
	}
	ann := func(m map[string]any) map[string]any {
		return m["metadata"].(map[string]any)["annotations"].(map[string]any)
	}
	cases := map[string]struct {
		cur     map[string]any
		deleted bool
		patch   string // what the reconcile wrote ("" nothing, "create" a Create)
		want    string
	}{
		"a managed annotation removed and put back": {
			cur:   edited(func(m map[string]any) { delete(ann(m), "alb.ingress.kubernetes.io/actions.stable") }),
			patch: `{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{20}"},"resourceVersion":"7"}}`,
			want:  `Ingress shop/web was changed under Vane (metadata.annotations["alb.ingress.kubernetes.io/actions.stable"] removed); it was put back`,
		},
		"every annotation removed, one put back": {
			cur:   edited(func(m map[string]any) { delete(m["metadata"].(map[string]any), "annotations") }),
			patch: `{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{20}"}}}`,
			want:  `Ingress shop/web was changed under Vane (metadata.annotations removed); it was put back`,
		},
		"the spec's rules changed and written again": {
			cur: edited(func(m map[string]any) { m["spec"] = map[string]any{"rules": []any{"b"}} }), patch: `{"spec":{"rules":["a"]}}`,
			want: `Ingress shop/web was changed under Vane (spec.rules changed); it was put back`,
		},
		"another annotation changed, the reconcile wrote the weight: nothing to tell": {
			cur:   edited(func(m map[string]any) { ann(m)["team"] = "shapes" }),
			patch: `{"metadata":{"annotations":{"alb.ingress.kubernetes.io/actions.stable":"{50}"}}}`,
		},
		"changed, nothing written: nothing to tell": {
			cur: edited(func(m map[string]any) { delete(ann(m), "alb.ingress.kubernetes.io/actions.stable") }),
		},
		"deleted and created again": {
			deleted: true, patch: "create",
			want: "Ingress shop/web was deleted under Vane; it was created again",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newCapture(nil, nil)
			switch tc.patch {
			case "":
			case "create":
				c.writes[ing] = [][]string{{}}
			default:
				c.writes[ing] = patchPaths([]byte(tc.patch))
			}
			ch := change{key: ing, deleted: tc.deleted}
			if !tc.deleted {
				ch.diff = diffObjects(weighted, tc.cur)
			}
			if diff := cmp.Diff(tc.want, c.putBack(ch)); diff != "" {
				t.Errorf("putBack (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTakeChangesSkipsOwnWrites(t *testing.T) {
	k := objKey{name: "web", namespace: "shop"}
	ro := types.NamespacedName{Namespace: "shop", Name: "web"}
	cases := map[string]struct {
		own         []string
		vaneDeleted bool
		deleted     bool
		want        int
	}{
		"someone else's change":            {own: []string{"5"}, want: 1},
		"Vane's own write":                 {own: []string{"5", "6"}, want: 0},
		"nothing written by Vane":          {want: 1},
		"deleted by someone else":          {own: []string{"6"}, deleted: true, want: 1},
		"deleted by Vane (a router's own)": {vaneDeleted: true, deleted: true, want: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newRouterWatch(nil, nil)
			for _, rv := range tc.own {
				w.wrote(k, rv)
			}
			if tc.vaneDeleted {
				w.deleted(k)
			}
			w.changes[ro] = []change{{key: k, rv: "6", deleted: tc.deleted}}
			if got := len(w.takeChanges(ro)); got != tc.want {
				t.Errorf("takeChanges gave %d changes, want %d", got, tc.want)
			}
			if got := len(w.takeChanges(ro)); got != 0 {
				t.Errorf("a second takeChanges gave %d changes, want none", got)
			}
		})
	}
}
