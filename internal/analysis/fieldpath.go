package analysis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
)

// FieldValue reads the field at path in obj, the way a `valueFrom.fieldRef.fieldPath` names it:
// dotted field names, list indexes and quoted map keys, e.g. `metadata.name`,
// `metadata.labels['app']`, `metadata.annotations["example.com/team"]` or
// `spec.template.spec.containers[0].image`. Strings are returned as they are, other values as
// JSON. A missing field is an error.
func FieldValue(obj runtime.Object, path string) (string, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	return fieldValue(u, path)
}

func fieldValue(obj map[string]any, path string) (string, error) {
	steps, err := parseFieldPath(path)
	if err != nil {
		return "", err
	}
	var cur any = obj
	for i, s := range steps {
		where := strings.Join(stepsString(steps[:i+1]), "")
		switch s.kind {
		case stepKey:
			m, ok := cur.(map[string]any)
			if !ok {
				return "", fmt.Errorf("fieldPath %q: %s is not an object", path, where)
			}
			if cur, ok = m[s.key]; !ok {
				return "", fmt.Errorf("fieldPath %q: %s is not set", path, where)
			}
		case stepIndex:
			l, ok := cur.([]any)
			if !ok {
				return "", fmt.Errorf("fieldPath %q: %s is not a list", path, where)
			}
			if s.index >= len(l) {
				return "", fmt.Errorf("fieldPath %q: %s is out of range (%d items)", path, where, len(l))
			}
			cur = l[s.index]
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case nil:
		return "", fmt.Errorf("fieldPath %q is null", path)
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

type stepKind int

const (
	stepKey stepKind = iota
	stepIndex
)

type fieldStep struct {
	kind  stepKind
	key   string
	index int
}

func stepsString(steps []fieldStep) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		switch {
		case s.kind == stepIndex:
			out[i] = fmt.Sprintf("[%d]", s.index)
		case i == 0:
			out[i] = s.key
		default:
			out[i] = "." + s.key
		}
	}
	return out
}

func parseFieldPath(path string) ([]fieldStep, error) {
	var steps []fieldStep
	p := strings.TrimSpace(path)
	if p == "" {
		return nil, fmt.Errorf("empty fieldPath")
	}
	bad := func(why string) error { return fmt.Errorf("fieldPath %q: %s", path, why) }
	for i := 0; i < len(p); {
		switch c := p[i]; {
		case c == '.':
			if i == 0 || i == len(p)-1 || p[i+1] == '.' || p[i+1] == '[' {
				return nil, bad("misplaced '.'")
			}
			i++
		case c == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, bad("unclosed '['")
			}
			inner := strings.TrimSpace(p[i+1 : i+end])
			i += end + 1
			if len(inner) >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[len(inner)-1] == inner[0] {
				steps = append(steps, fieldStep{kind: stepKey, key: inner[1 : len(inner)-1]})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, bad(fmt.Sprintf("[%s] is neither an index nor a quoted key", inner))
			}
			steps = append(steps, fieldStep{kind: stepIndex, index: n})
		default:
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			steps = append(steps, fieldStep{kind: stepKey, key: p[i:j]})
			i = j
		}
	}
	return steps, nil
}
