package plugin

import (
	"encoding/gob"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Argo Rollouts' plugins decode the RPC arguments with encoding/gob into Argo's own Go types.
// Gob matches struct fields by name and needs compatible kinds. Vane's API types have Argo's
// field names everywhere, and one difference of kind: Vane's DurationString is an
// int-or-string struct (it keeps `interval: 5` a number), Argo's a plain string. A Rollout or
// Metric sent as it is would fail to decode on the plugin's side ("wrong type"), whatever its
// values. So what is sent is a copy whose Go type is built from Vane's with every
// DurationString replaced by a string Argo parses ("5" becomes "5s") -- except a pause step's
// duration, which Argo keeps as an int-or-string (same field layout as Vane's).

var (
	durationType = reflect.TypeFor[v1alpha1.DurationString]()
	pauseType    = reflect.TypeFor[v1alpha1.RolloutPause]()
	stringType   = reflect.TypeFor[string]()
)

// vanePkgs is the prefix of Vane's packages, whose types may hold a DurationString.
const vanePkgs = "github.com/vanedev/vane/"

// wireTypes caches, per Go type, the type sent in its place (the same type when nothing in
// it changes).
var wireTypes sync.Map // reflect.Type -> reflect.Type

// wireType returns the type whose values are sent for values of t.
func wireType(t reflect.Type) reflect.Type {
	if w, ok := wireTypes.Load(t); ok {
		return w.(reflect.Type)
	}
	w := buildWireType(t)
	wireTypes.Store(t, w)
	return w
}

func buildWireType(t reflect.Type) reflect.Type {
	switch t.Kind() {
	case reflect.Pointer:
		if e := wireType(t.Elem()); e != t.Elem() {
			return reflect.PointerTo(e)
		}
	case reflect.Slice:
		if e := wireType(t.Elem()); e != t.Elem() {
			return reflect.SliceOf(e)
		}
	case reflect.Array:
		if e := wireType(t.Elem()); e != t.Elem() {
			return reflect.ArrayOf(t.Len(), e)
		}
	case reflect.Map:
		k, e := wireType(t.Key()), wireType(t.Elem())
		if k != t.Key() || e != t.Elem() {
			return reflect.MapOf(k, e)
		}
	case reflect.Struct:
		if t == durationType {
			return stringType
		}
		return wireStruct(t)
	}
	return t
}

// wireStruct is t with the fields gob sends, their types replaced; t itself when no field
// changes. Embedded fields become ordinary fields of the same name (gob names an embedded
// field after its type either way). Only Vane's own types are rebuilt: other named types
// (time.Time, metav1.ObjectMeta, ...) are the same on both sides.
func wireStruct(t reflect.Type) reflect.Type {
	if t.Name() != "" && !strings.HasPrefix(t.PkgPath(), vanePkgs) {
		return t
	}
	var fields []reflect.StructField
	changed := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !sent(f) {
			continue
		}
		ft := wireType(f.Type)
		if t == pauseType && f.Name == "Duration" {
			ft = f.Type // Argo: *intstr.IntOrString, the same fields as Vane's DurationString
		}
		changed = changed || ft != f.Type
		fields = append(fields, reflect.StructField{Name: f.Name, Type: ft, Tag: f.Tag})
	}
	if !changed {
		return t
	}
	if len(fields) > 0 && t.Name() != "" {
		// built types of the same fields are one type; tell named ones apart (gob ignores
		// tags), or arguments of the same shape (step.RunArgs, step.AbortArgs) would share a
		// gob name
		fields[0].Tag = reflect.StructTag(strings.TrimSpace(string(fields[0].Tag) + ` wire:"` + t.String() + `"`))
	}
	return reflect.StructOf(fields)
}

// sent reports whether gob sends the field (a built struct type leaves the others out).
func sent(f reflect.StructField) bool {
	return f.IsExported() && f.Type.Kind() != reflect.Func && f.Type.Kind() != reflect.Chan
}

// toWire returns v converted to wireType(v's type).
func toWire(v reflect.Value) reflect.Value {
	wt := wireType(v.Type())
	if wt == v.Type() {
		return v
	}
	out := reflect.New(wt).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(wt.Elem())
			p.Elem().Set(toWire(v.Elem()))
			out.Set(p)
		}
	case reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(wt, v.Len(), v.Len()))
			for i := 0; i < v.Len(); i++ {
				out.Index(i).Set(toWire(v.Index(i)))
			}
		}
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(toWire(v.Index(i)))
		}
	case reflect.Map:
		if !v.IsNil() {
			out.Set(reflect.MakeMapWithSize(wt, v.Len()))
			for it := v.MapRange(); it.Next(); {
				out.SetMapIndex(toWire(it.Key()), toWire(it.Value()))
			}
		}
	case reflect.Struct:
		if v.Type() == durationType {
			out.SetString(argoDuration(v.Interface().(v1alpha1.DurationString)))
			break
		}
		j := 0
		for i := 0; i < v.NumField(); i++ {
			if !sent(v.Type().Field(i)) {
				continue
			}
			src, dst := v.Field(i), out.Field(j)
			j++
			if dst.Type() == src.Type() {
				dst.Set(src)
			} else {
				dst.Set(toWire(src))
			}
		}
	}
	return out
}

// argoDuration writes a duration the way Argo's DurationString (a Go duration string) reads
// it: a number of seconds gets the unit "s".
func argoDuration(d v1alpha1.DurationString) string {
	s := d.String()
	if d.Type == intstr.Int {
		return s + "s"
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return s + "s"
	}
	return s
}

// Wire returns v (a value of Vane's API types, or a struct of them) in the Go layout Argo
// Rollouts' plugins decode; see the note at the top of this file.
func Wire(v any) any {
	if v == nil {
		return nil
	}
	return toWire(reflect.ValueOf(v)).Interface()
}

// RegisterArgs registers with gob, under name, the type sent for values of sample's type, as
// Argo Rollouts registers its RPC argument types: a plugin decodes arguments sent as
// interface values by that name.
func RegisterArgs(name string, sample any) {
	gob.RegisterName(name, reflect.New(wireType(reflect.TypeOf(sample))).Interface())
}
