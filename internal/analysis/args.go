package analysis

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/vanedev/vane/api/v1alpha1"
)

// placeholder matches {{args.NAME}}, with optional spaces inside the braces.
var placeholder = regexp.MustCompile(`\{\{\s*args\.([^\s{}]+)\s*\}\}`)

// Placeholders returns the argument names a metric refers to, sorted, each once.
func Placeholders(m *v1alpha1.Metric) []string {
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, sm := range placeholder.FindAllSubmatch(b, -1) {
		if n := string(sm[1]); !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Substitute returns a copy of m with every {{args.NAME}} replaced by values[NAME], in every
// field (URLs, queries, headers, bodies, job specs, and count or limits written as
// placeholders). A placeholder whose argument has no value is an error naming it.
func Substitute(m *v1alpha1.Metric, values map[string]string) (v1alpha1.Metric, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return v1alpha1.Metric{}, err
	}
	var missing []string
	out := placeholder.ReplaceAllFunc(b, func(p []byte) []byte {
		name := string(placeholder.FindSubmatch(p)[1])
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return p
		}
		// the placeholder sits inside a JSON string: escape the value for it
		q, _ := json.Marshal(v)
		return q[1 : len(q)-1]
	})
	if len(missing) > 0 {
		return v1alpha1.Metric{}, fmt.Errorf("metric %q: no value for argument %s", m.Name, quoteList(missing))
	}
	var res v1alpha1.Metric
	if err := json.Unmarshal(out, &res); err != nil {
		return v1alpha1.Metric{}, fmt.Errorf("metric %q after substituting arguments: %w", m.Name, err)
	}
	return res, nil
}

func quoteList(names []string) string {
	seen := map[string]bool{}
	var q []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			q = append(q, fmt.Sprintf("%q", n))
		}
	}
	return strings.Join(q, ", ")
}

// Mask is what a secret argument's value is replaced with wherever it could be shown.
const Mask = "*****"

// Scrub replaces every secret value in s with Mask, also in the forms it takes inside a JSON
// string or a URL.
func Scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if v == "" {
			continue
		}
		q, _ := json.Marshal(v)
		for _, form := range []string{v, string(q[1 : len(q)-1]), url.QueryEscape(v), url.PathEscape(v)} {
			s = strings.ReplaceAll(s, form, Mask)
		}
	}
	return s
}
