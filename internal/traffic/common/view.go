package common

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Fields keeps every member of the JSON object a view was decoded from, so that the view,
// encoded again, writes back what it does not hold, and what it holds but did not change,
// exactly as it was.
//
// A view is a struct of the few members of a router object that a router reads or edits,
// tagged as for encoding/json, with one field of type Fields:
//
//	type destination struct {
//		Host   string        `json:"host,omitzero"`
//		Weight *int64        `json:"weight,omitzero"`
//		Fields common.Fields `json:"-"`
//	}
//
// Decode and Encode (and ReadMember and WriteMember) handle views nested in views, pointers,
// slices and maps: each element of a list of views keeps its own unknown members wherever the
// edit moves or copies it. A member tagged omitzero is left out when the view's value is the
// zero value (so an empty list the user wrote stays distinct from an absent one), and so is a
// member a decoded view did not have while its value is the zero value; other options are
// ignored. Everything else is encoded and decoded by encoding/json. Decoding an object and
// encoding it again without an edit gives the same object.
type Fields map[string]json.RawMessage

var fieldsType = reflect.TypeFor[Fields]()

// viewInfo describes a view struct: its Fields field and the JSON member of every other field.
type viewInfo struct {
	fields  int
	members []member
}

type member struct {
	index    int
	name     string
	omitZero bool
}

var views sync.Map // reflect.Type -> *viewInfo (nil for structs that are not views)

// viewOf returns the description of struct type t, or nil when t is not a view.
func viewOf(t reflect.Type) *viewInfo {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if v, ok := views.Load(t); ok {
		return v.(*viewInfo)
	}
	info := &viewInfo{fields: -1}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		switch {
		case f.Type == fieldsType:
			info.fields = i
		case f.IsExported() && tag != "-":
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			info.members = append(info.members, member{i, name, strings.Contains(","+opts+",", ",omitzero,")})
		}
	}
	if info.fields < 0 {
		info = nil
	}
	views.Store(t, info)
	return info
}

var holds sync.Map // reflect.Type -> bool

// holdsView reports whether t is a view or holds views (through pointers, slices, maps and
// structs).
func holdsView(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map:
		return holdsView(t.Elem())
	case reflect.Struct:
	default:
		return false
	}
	if v, ok := holds.Load(t); ok {
		return v.(bool)
	}
	holds.Store(t, false) // while looking, for recursive types
	found := viewOf(t) != nil
	for i := 0; i < t.NumField() && !found; i++ {
		found = holdsView(t.Field(i).Type)
	}
	holds.Store(t, found)
	return found
}

// errNotView is a struct that holds views but has no Fields of its own: its unknown members
// would be lost.
func errNotView(t reflect.Type) error {
	return fmt.Errorf("%s holds views but has no common.Fields field to keep the members it does not hold", t)
}

// ShapeError is a JSON value that does not have the shape a view needs.
type ShapeError struct {
	// Path is where the value is, as in "spec.http[0].route[1].weight".
	Path string
	// Got describes the value ("a string", "the number 2.5"), Want what belongs there.
	Got, Want string
}

// Error says where the value is, what it is and what belongs there.
func (e *ShapeError) Error() string { return fmt.Sprintf("%s: is %s, not %s", e.Path, e.Got, e.Want) }

// Decode decodes data into view (a pointer to a view, or to a list or map of them); a value of
// the wrong shape is a *ShapeError whose path starts at path.
func Decode(data []byte, view any, path string) error {
	return decodeValue(data, reflect.ValueOf(view).Elem(), path)
}

func decodeValue(data []byte, v reflect.Value, path string) error {
	t := v.Type()
	if !holdsView(t) {
		if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
			return shapeError(data, t, path, err)
		}
		return nil
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		v.SetZero()
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		return decodeValue(data, v.Elem(), path)
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return shapeError(data, t, path, err)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			if err := decodeValue(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		return decodeMap(data, v, path)
	}
	return decodeStruct(data, v, path)
}

func decodeMap(data []byte, v reflect.Value, path string) error {
	t := v.Type()
	var items map[string]json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return shapeError(data, t, path, err)
	}
	m := reflect.MakeMapWithSize(t, len(items))
	for k, item := range items {
		e := reflect.New(t.Elem()).Elem()
		if err := decodeValue(item, e, path+"."+k); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
	}
	v.Set(m)
	return nil
}

func decodeStruct(data []byte, v reflect.Value, path string) error {
	info := viewOf(v.Type())
	if info == nil {
		return errNotView(v.Type())
	}
	var members Fields
	if err := json.Unmarshal(data, &members); err != nil {
		return shapeError(data, v.Type(), path, err)
	}
	v.SetZero()
	v.Field(info.fields).Set(reflect.ValueOf(members))
	for _, m := range info.members {
		raw, ok := members[m.name]
		if !ok {
			continue
		}
		if err := decodeValue(raw, v.Field(m.index), path+"."+m.name); err != nil {
			return err
		}
	}
	return nil
}

// shapeError describes a value that encoding/json could not decode into a value of type t.
func shapeError(data []byte, t reflect.Type, path string, err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%s: %w", path, err)
	}
	if te.Field != "" {
		path += "." + te.Field
		t = te.Type
	}
	got := "a " + te.Value
	switch {
	case strings.HasPrefix(te.Value, "number "):
		got = "the " + te.Value
	case te.Value == "array":
		got = "a list"
	case te.Value == "object":
		got = "an object"
	case te.Value == "bool":
		got = "a boolean"
	}
	return &ShapeError{Path: path, Got: got, Want: wantKind(t)}
}

// wantKind names what a Go type holds, for an error about a JSON value that does not fit.
func wantKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "an integer"
}

// Encode encodes view (a view, or a pointer, list or map of them) as JSON: the members of each
// view's Fields it does not hold, and those it holds and did not change since Decode, as they
// were decoded; the members it changed, as the view has them.
func Encode(view any) ([]byte, error) { return encodeValue(reflect.ValueOf(view)) }

func encodeValue(v reflect.Value) ([]byte, error) {
	t := v.Type()
	if !holdsView(t) {
		return json.Marshal(v.Interface())
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return []byte("null"), nil
		}
		return encodeValue(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return []byte("null"), nil
		}
		items := make([]json.RawMessage, v.Len())
		for i := range items {
			b, err := encodeValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			items[i] = b
		}
		return json.Marshal(items)
	case reflect.Map:
		if v.IsNil() {
			return []byte("null"), nil
		}
		items := make(map[string]json.RawMessage, v.Len())
		for it := v.MapRange(); it.Next(); {
			b, err := encodeValue(it.Value())
			if err != nil {
				return nil, err
			}
			items[it.Key().String()] = b
		}
		return json.Marshal(items)
	}
	return encodeStruct(v)
}

func encodeStruct(v reflect.Value) ([]byte, error) {
	info := viewOf(v.Type())
	if info == nil {
		return nil, errNotView(v.Type())
	}
	fields := v.Field(info.fields).Interface().(Fields)
	out := make(map[string]json.RawMessage, len(fields)+len(info.members))
	for k, raw := range fields {
		out[k] = raw
	}
	for _, m := range info.members {
		cur := v.Field(m.index)
		raw, had := fields[m.name]
		if had && unchanged(raw, cur) {
			continue
		}
		// a decoded view (its fields are not nil) does not gain a member it did not have
		if (m.omitZero || !had && fields != nil) && cur.IsZero() {
			delete(out, m.name)
			continue
		}
		b, err := encodeValue(cur)
		if err != nil {
			return nil, err
		}
		out[m.name] = b
	}
	return json.Marshal(out)
}

// unchanged reports whether raw decodes to the value cur holds.
func unchanged(raw json.RawMessage, cur reflect.Value) bool {
	was := reflect.New(cur.Type()).Elem()
	if decodeValue(raw, was, "") != nil {
		return false
	}
	return reflect.DeepEqual(was.Interface(), cur.Interface())
}

// ReadMember decodes the member key of obj (a router object of kind) into view; an absent
// member leaves view as it is. A member that does not have the shape the router needs is an
// Invalid Error naming the field.
func ReadMember(kind string, obj *unstructured.Unstructured, key string, view any) error {
	v, ok := obj.Object[key]
	if !ok {
		return nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %s of %s %s/%s: %w", key, kind, obj.GetNamespace(), obj.GetName(), err)
	}
	if err := Decode(data, view, key); err != nil {
		if se, ok := errors.AsType[*ShapeError](err); ok {
			return Invalidf(kind, obj.GetNamespace(), obj.GetName(), se.Path, "is %s, not %s", se.Got, se.Want)
		}
		return Invalidf(kind, obj.GetNamespace(), obj.GetName(), key, "cannot be read: %v", err)
	}
	return nil
}

// WriteMember encodes view into the member key of obj, as unstructured data (integers as
// int64, as the API server's objects have them). A member that was absent stays absent when
// view encodes as an empty object.
func WriteMember(obj *unstructured.Unstructured, key string, view any) error {
	data, err := Encode(view)
	if err != nil {
		return fmt.Errorf("encoding %s of %s/%s: %w", key, obj.GetNamespace(), obj.GetName(), err)
	}
	var v any
	if err := utiljson.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("encoding %s of %s/%s: %w", key, obj.GetNamespace(), obj.GetName(), err)
	}
	if _, had := obj.Object[key]; !had {
		if m, ok := v.(map[string]any); ok && len(m) == 0 {
			return nil
		}
	}
	obj.Object[key] = v
	return nil
}
