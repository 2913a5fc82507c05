package common

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kptr "k8s.io/utils/ptr"
)

// testRoute and testDest are views as a router declares them.
type testRoute struct {
	Name   string     `json:"name,omitzero"`
	Dests  []testDest `json:"dests,omitzero"`
	Fields Fields     `json:"-"`
}

type testDest struct {
	Host   string `json:"host,omitzero"`
	Weight *int64 `json:"weight,omitzero"`
	Fields Fields `json:"-"`
}

func TestViewKeepsWhatItDoesNotChange(t *testing.T) {
	cases := map[string]struct {
		in   string
		edit func(*testRoute)
		want string
	}{
		"no edit: unknown members at every level, empty lists and nulls come back as they were": {
			in:   `{"name":"a","x":{"deep":[1,{"y":null}]},"dests":[{"host":"h","weight":1,"port":{"number":80}},{"host":"","z":[]}],"empty":[],"nothing":null}`,
			edit: func(*testRoute) {},
			want: `{"name":"a","x":{"deep":[1,{"y":null}]},"dests":[{"host":"h","weight":1,"port":{"number":80}},{"host":"","z":[]}],"empty":[],"nothing":null}`,
		},
		"no edit: an empty list the view holds stays empty, not absent": {
			in: `{"dests":[]}`, edit: func(*testRoute) {}, want: `{"dests":[]}`,
		},
		"a changed member is written from the view, its unknown siblings kept": {
			in:   `{"name":"a","dests":[{"host":"h","weight":10,"port":8080}],"timeout":"1s"}`,
			edit: func(r *testRoute) { r.Dests[0].Weight = kptr.To[int64](20) },
			want: `{"name":"a","dests":[{"host":"h","weight":20,"port":8080}],"timeout":"1s"}`,
		},
		"an element keeps its unknown members when the edit moves it": {
			in:   `{"dests":[{"host":"a","port":1},{"host":"b","port":2}]}`,
			edit: func(r *testRoute) { r.Dests[0], r.Dests[1] = r.Dests[1], r.Dests[0] },
			want: `{"dests":[{"host":"b","port":2},{"host":"a","port":1}]}`,
		},
		"a member the view clears is removed, the rest kept": {
			in:   `{"dests":[{"host":"a","weight":5,"headers":{"set":{"x":"y"}}}]}`,
			edit: func(r *testRoute) { r.Dests[0].Weight = nil },
			want: `{"dests":[{"host":"a","headers":{"set":{"x":"y"}}}]}`,
		},
		"a copied element carries its unknown members": {
			in: `{"dests":[{"host":"a","port":1}]}`,
			edit: func(r *testRoute) {
				c := r.Dests[0]
				c.Host = "b"
				r.Dests = append(r.Dests, c)
			},
			want: `{"dests":[{"host":"a","port":1},{"host":"b","port":1}]}`,
		},
		"a new element has only what the view sets": {
			in:   `{"name":"a","other":true}`,
			edit: func(r *testRoute) { r.Dests = []testDest{{Host: "n", Weight: kptr.To[int64](0)}} },
			want: `{"name":"a","other":true,"dests":[{"host":"n","weight":0}]}`,
		},
		"a removed list becomes absent": {
			in:   `{"name":"a","dests":[{"host":"a"}]}`,
			edit: func(r *testRoute) { r.Dests = nil },
			want: `{"name":"a"}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var r testRoute
			if err := Decode([]byte(tc.in), &r, "route"); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			tc.edit(&r)
			out, err := Encode(r)
			if err != nil {
				t.Fatalf("encoding: %v", err)
			}
			if diff := cmp.Diff(asAny(t, tc.want), asAny(t, string(out))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func asAny(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func TestReadMember(t *testing.T) {
	type spec struct {
		Routes []testRoute `json:"routes,omitzero"`
		Fields Fields      `json:"-"`
	}
	cases := map[string]struct {
		spec    any
		want    []string // the routes' names
		wantErr string
	}{
		"a well-formed spec":           {spec: map[string]any{"routes": []any{map[string]any{"name": "a"}}}, want: []string{"a"}},
		"an absent member":             {spec: nil},
		"a list where an object is":    {spec: []any{"x"}, wantErr: `Thing shop/web: spec: is a list, not an object`},
		"a string where a list is":     {spec: map[string]any{"routes": "x"}, wantErr: `Thing shop/web: spec.routes: is a string, not a list`},
		"a number where an object is":  {spec: map[string]any{"routes": []any{int64(3)}}, wantErr: `Thing shop/web: spec.routes[0]: is a number, not an object`},
		"a string where an integer is": {spec: map[string]any{"routes": []any{map[string]any{"dests": []any{map[string]any{"weight": "5"}}}}}, wantErr: `Thing shop/web: spec.routes[0].dests[0].weight: is a string, not an integer`},
		"a fraction where an integer":  {spec: map[string]any{"routes": []any{map[string]any{"dests": []any{map[string]any{"weight": 2.5}}}}}, wantErr: `Thing shop/web: spec.routes[0].dests[0].weight: is the number 2.5, not an integer`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{}}
			u.SetName("web")
			u.SetNamespace("shop")
			if tc.spec != nil {
				u.Object["spec"] = tc.spec
			}
			var s spec
			err := ReadMember("Thing", u, "spec", &s)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
				if e, ok := AsError(err); !ok || e.Reason != Invalid {
					t.Errorf("want an Invalid router Error, got %#v", err)
				}
			}
			var names []string
			for _, r := range s.Routes {
				if err != nil {
					break
				}
				names = append(names, r.Name)
			}
			if diff := cmp.Diff(struct {
				Names []string
				Err   string
			}{tc.want, tc.wantErr}, struct {
				Names []string
				Err   string
			}{names, gotErr}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteMember(t *testing.T) {
	cases := map[string]struct {
		obj  map[string]any
		view any
		want map[string]any
	}{
		"integers are int64 as in the API server's objects": {
			obj:  map[string]any{"spec": map[string]any{}},
			view: map[string]any{"weight": 20, "share": 0.5},
			want: map[string]any{"spec": map[string]any{"weight": int64(20), "share": 0.5}},
		},
		"an absent member stays absent when the view is empty": {
			obj: map[string]any{}, view: testRoute{}, want: map[string]any{},
		},
		"a present member is replaced, even by an empty object": {
			obj:  map[string]any{"spec": map[string]any{"name": "a"}},
			view: testRoute{},
			want: map[string]any{"spec": map[string]any{}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: tc.obj}
			if err := WriteMember(u, "spec", tc.view); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, u.Object); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAStructHoldingViewsMustBeAView(t *testing.T) {
	var s struct {
		Routes []testRoute `json:"routes"`
	}
	if err := Decode([]byte(`{"routes":[{"name":"a"}]}`), &s, "spec"); err == nil || !strings.Contains(err.Error(), "no common.Fields field") {
		t.Errorf("Decode = %v, want an error about the missing Fields", err)
	}
	if _, err := Encode(s); err == nil || !strings.Contains(err.Error(), "no common.Fields field") {
		t.Errorf("Encode = %v, want an error about the missing Fields", err)
	}
}

// testHeader is a view with a member that is always written (name), as the routers have them.
type testHeader struct {
	Name   string  `json:"name"`
	Type   *string `json:"type,omitzero"`
	Fields Fields  `json:"-"`
}

// testSpec nests views through a list, a pointer and a map.
type testSpec struct {
	Routes  []testRoute           `json:"routes,omitzero"`
	Default *testDest             `json:"default,omitzero"`
	ByName  map[string]testHeader `json:"byName,omitzero"`
	Headers []testHeader          `json:"headers,omitzero"`
	Fields  Fields                `json:"-"`
}

// FuzzViewRoundTrip: an object decoded and encoded again without an edit is the same object.
func FuzzViewRoundTrip(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"routes":[{"name":"a","dests":[{"host":"h","weight":1,"x":[1,2]}],"y":null}],"z":{"w":true}}`,
		`{"routes":[],"default":null,"byName":{},"headers":[]}`,
		`{"default":{"host":"d","extra":{"a":[{}]}},"byName":{"k":{"type":"Exact","v":1}}}`,
		`{"headers":[{},{"name":null},{"name":"","type":null}],"routes":[{"dests":null}]}`,
		`{"routes":[{"name":"a","name2":"b","dests":[{}, {"weight":-3.0e2}]}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s testSpec
		if Decode([]byte(in), &s, "spec") != nil {
			return // not the shape of the view: the routers report it
		}
		out, err := Encode(s)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		var want, got any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%q decoded as a view but is not JSON: %v", in, err)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("Encode wrote %q: %v", out, err)
		}
		if want == nil {
			return // null decodes to the zero view
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-in +out):\n%s", in, diff)
		}
	})
}
