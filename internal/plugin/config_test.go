package plugin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseConfig reads the ConfigMap's three lists the way Argo Rollouts writes them, keeps
// each entry that cannot be used with an error naming its field, and makes a list that is not
// YAML an error of its whole kind.
func TestParseConfig(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF"
	type got struct {
		Items    []Item
		Errs     []string
		ListErrs map[Kind]string
	}
	for name, tc := range map[string]struct {
		data map[string]string
		want got
	}{
		"argo's three lists": {
			data: map[string]string{
				"metricProviderPlugins": "- name: argoproj-labs/sample-prometheus\n  location: https://example.test/metric-plugin\n  sha256: " + sha + "\n  args: [--log-level, debug]\n",
				"trafficRouterPlugins":  "- name: argoproj-labs/gatewayAPI\n  location: file:///plugins/gatewayapi\n  headersFrom:\n  - secretRef: {name: github-token}\n",
				"stepPlugins":           "- name: argoproj-labs/step\n  location: file://./step\n  disabled: true\n  unknownField: ignored\n",
			},
			want: got{Items: []Item{
				{Kind: TrafficRouter, Name: "argoproj-labs/gatewayAPI", Location: "file:///plugins/gatewayapi", HeadersFrom: []HeadersFrom{{SecretRef{"github-token"}}}},
				{Kind: MetricProvider, Name: "argoproj-labs/sample-prometheus", Location: "https://example.test/metric-plugin", Sha256: sha, Args: []string{"--log-level", "debug"}},
				{Kind: Step, Name: "argoproj-labs/step", Location: "file://./step", Disabled: true},
			}, Errs: []string{"", "", ""}},
		},
		"unusable entries": {
			data: map[string]string{"metricProviderPlugins": `
- {name: no-namespace, location: file:///x}
- {name: a/.., location: file:///x}
- {name: a/b}
- {name: a/c, location: ftp://host/x}
- {name: a/d, location: "file://"}
- {name: a/e, location: "https:///x"}
- {name: a/f, location: file:///x, sha256: abc}
- {name: a/g, location: file:///x, headersFrom: [{secretRef: {}}]}
- {name: a/h, location: file:///x}
- {name: a/h, location: file:///y}
`},
			want: got{Errs: []string{
				`metricProviderPlugins[0].name: "no-namespace" must be of the form <namespace>/<name> (letters, digits, '-'; the name also '_' and '.')`,
				`metricProviderPlugins[1].name: the name part cannot be '.' or '..'`,
				`metricProviderPlugins[2].location: required (file://<path> or http(s)://<url>)`,
				`metricProviderPlugins[3].location: the scheme must be file, http or https, not "ftp"`,
				`metricProviderPlugins[4].location: file: names no file`,
				`metricProviderPlugins[5].location: https:///x names no host`,
				`metricProviderPlugins[6].sha256: must be 64 hexadecimal digits (a SHA-256 checksum)`,
				`metricProviderPlugins[7].headersFrom[0].secretRef.name: required`,
				``,
				`metricProviderPlugins[9]: the plugin "a/h" is listed twice`,
			}},
		},
		"a list that is not YAML": {
			data: map[string]string{"stepPlugins": "name: not-a-list", "trafficRouterPlugins": "  "},
			want: got{ListErrs: map[Kind]string{Step: "the ConfigMap's stepPlugins is not a list of plugins: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go value of type []plugin.Item"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ParseConfig(tc.data)
			var g got
			for _, e := range cfg.Entries {
				if tc.want.Items != nil {
					g.Items = append(g.Items, e.Item)
				}
				msg := ""
				if e.Err != nil {
					msg = e.Err.Error()
				}
				g.Errs = append(g.Errs, msg)
			}
			for k, err := range cfg.ListErrs {
				if g.ListErrs == nil {
					g.ListErrs = map[Kind]string{}
				}
				g.ListErrs[k] = err.Error()
			}
			if d := cmp.Diff(tc.want, g); d != "" {
				t.Errorf("-want +got:\n%s", d)
			}
		})
	}
}
