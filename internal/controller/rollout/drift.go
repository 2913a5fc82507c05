package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// pathChange is one member of an object that changed: where, and how.
type pathChange struct {
	path []string
	// how is "added", "removed" or "changed"
	how string
}

// String renders the path as in "metadata.annotations["a/b"]" or "spec.rules".
func (p pathChange) String() string { return formatPath(p.path) + " " + p.how }

func formatPath(path []string) string {
	var b strings.Builder
	for i, s := range path {
		switch {
		case i >= 2 && path[0] == "metadata":
			fmt.Fprintf(&b, "[%q]", s)
		case i > 0:
			b.WriteString("." + s)
		default:
			b.WriteString(s)
		}
	}
	return b.String()
}

// diffObjects lists what changed between two versions of an object in the parts a router
// manages: its annotations, its labels and its spec (to the depth of the first list or
// value that differs). Status and bookkeeping fields do not count.
func diffObjects(old, cur map[string]any) []pathChange {
	var out []pathChange
	for _, f := range [][]string{{"metadata", "annotations"}, {"metadata", "labels"}, {"spec"}} {
		a, _, _ := unstructured.NestedFieldNoCopy(old, f...)
		b, _, _ := unstructured.NestedFieldNoCopy(cur, f...)
		out = append(out, diffValues(f, a, b)...)
	}
	return out
}

func diffValues(path []string, a, b any) []pathChange {
	if reflect.DeepEqual(a, b) {
		return nil
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	switch {
	case a == nil:
		return []pathChange{{path, "added"}}
	case b == nil:
		return []pathChange{{path, "removed"}}
	case !aok || !bok:
		return []pathChange{{path, "changed"}}
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []pathChange
	for _, k := range sorted {
		out = append(out, diffValues(append(append([]string{}, path...), k), am[k], bm[k])...)
	}
	return out
}

// patchPaths lists the members a JSON merge patch sets or removes (to the first list or
// value).
func patchPaths(data []byte) [][]string {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return [][]string{{}} // unreadable: it may have touched anything
	}
	var out [][]string
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		mm, ok := v.(map[string]any)
		if !ok || len(path) > 0 && path[0] == "metadata" && len(path) == 3 {
			out = append(out, path)
			return
		}
		for k, x := range mm {
			walk(append(append([]string{}, path...), k), x)
		}
	}
	walk(nil, m)
	return out
}

// overlaps reports whether one path is within the other.
func overlaps(a, b []string) bool {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// capture is the router client of one reconcile: it records which objects the router reads
// (the watch follows them), and what it writes (the resourceVersions, so the watch knows its
// own changes, and the members, to tell which changes made by someone else it put back).
type capture struct {
	client.Client
	w      *routerWatch
	reads  []objKey
	writes map[objKey][][]string // nil path list entry {}: all of it (created)
}

func newCapture(c client.Client, w *routerWatch) *capture {
	return &capture{Client: c, w: w, writes: map[objKey][][]string{}}
}

func (c *capture) key(obj client.Object, ns, name string) (objKey, bool) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Empty() {
		var err error
		if gvk, err = apiutil.GVKForObject(obj, c.Scheme()); err != nil {
			return objKey{}, false
		}
	}
	return objKey{gvk: schema.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}, namespace: ns, name: name}, true
}

// Get records the object read (found or not).
func (c *capture) Get(ctx context.Context, k types.NamespacedName, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, k, obj, opts...)
	if key, ok := c.key(obj, k.Namespace, k.Name); ok && (err == nil || apierrors.IsNotFound(err)) {
		c.reads = append(c.reads, key)
	}
	return err
}

// Create records the object created.
func (c *capture) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	c.record(obj, []string{})
	return nil
}

// Update records the object written.
func (c *capture) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	if err := c.Client.Update(ctx, obj, opts...); err != nil {
		return err
	}
	c.record(obj, []string{})
	return nil
}

// Delete records that Vane deleted the object.
func (c *capture) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if err := c.Client.Delete(ctx, obj, opts...); err != nil {
		return err
	}
	if key, ok := c.key(obj, obj.GetNamespace(), obj.GetName()); ok && c.w != nil {
		c.w.deleted(key)
	}
	return nil
}

// Patch records the members patched.
func (c *capture) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	data, derr := patch.Data(obj)
	if err := c.Client.Patch(ctx, obj, patch, opts...); err != nil {
		return err
	}
	paths := [][]string{{}}
	if derr == nil {
		paths = patchPaths(data)
	}
	c.record(obj, paths...)
	return nil
}

func (c *capture) record(obj client.Object, paths ...[]string) {
	key, ok := c.key(obj, obj.GetNamespace(), obj.GetName())
	if !ok {
		return
	}
	c.reads = append(c.reads, key) // what the router writes it watches too
	c.writes[key] = append(c.writes[key], paths...)
	if c.w != nil {
		c.w.wrote(key, obj.GetResourceVersion())
	}
}

// putBack describes what this reconcile wrote back of a change someone else made: "" when
// it wrote none of it.
func (c *capture) putBack(ch change) string {
	written := c.writes[ch.key]
	if len(written) == 0 {
		return ""
	}
	if ch.deleted {
		return fmt.Sprintf("%s was deleted under Vane; it was created again", ch.key)
	}
	var back []string
	for _, d := range ch.diff {
		for _, p := range written {
			if overlaps(d.path, p) {
				back = append(back, d.String())
				break
			}
		}
	}
	if len(back) == 0 {
		return ""
	}
	return fmt.Sprintf("%s was changed under Vane (%s); it was put back", ch.key, strings.Join(back, ", "))
}
