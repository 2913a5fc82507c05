package dynatrace

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/analysis/condition"
)

// TestParse checks the defaults and that every error names the field at fault.
func TestParse(t *testing.T) {
	for name, tc := range map[string]struct {
		raw         string
		want        Config
		wantTimeout time.Duration
		wantErr     string
	}{
		"the least": {raw: `{"query":"builtin:service.response.time:avg"}`,
			want:        Config{Query: "builtin:service.response.time:avg", From: DefaultFrom, Resolution: DefaultResolution},
			wantTimeout: DefaultTimeout},
		"everything": {raw: `{"address":"https://abc12345.live.dynatrace.com","query":"m","entitySelector":"type(SERVICE)","mzSelector":"mzId(1)","from":"now-1h","to":"now-5m","resolution":"5m","timeout":"30s","secretRef":{"name":"dt","namespaced":true}}`,
			want: Config{Address: "https://abc12345.live.dynatrace.com", Query: "m", EntitySelector: "type(SERVICE)", MzSelector: "mzId(1)",
				From: "now-1h", To: "now-5m", Resolution: "5m", Timeout: "30s", SecretRef: SecretRef{Name: "dt", Namespaced: true}},
			wantTimeout: 30 * time.Second},
		"nothing":                   {raw: ``, wantErr: "give the configuration: at least query, and address unless the Secret has one"},
		"null":                      {raw: `null`, wantErr: "give the configuration: at least query, and address unless the Secret has one"},
		"not an object":             {raw: `"m"`, wantErr: "reading the configuration: json: cannot unmarshal string into Go value of type dynatrace.Config"},
		"an unknown field":          {raw: `{"query":"m","apiToken":"x"}`, wantErr: `reading the configuration: json: unknown field "apiToken"`},
		"a blank query":             {raw: `{"query":"  "}`, wantErr: "query: give a metric selector, e.g. builtin:service.errors.total.rate:avg"},
		"a bad scheme":              {raw: `{"query":"m","address":"ftp://dt"}`, wantErr: `address: the scheme must be https (or http), not "ftp"`},
		"no host":                   {raw: `{"query":"m","address":"https://"}`, wantErr: "address: names no host"},
		"credentials in it":         {raw: `{"query":"m","address":"https://me:s3cret@dt"}`, wantErr: "address: must not carry credentials: put the token in the Secret"},
		"a bad timeout":             {raw: `{"query":"m","timeout":"10"}`, wantErr: `timeout "10": give a positive duration such as 30s`},
		"a negative timeout":        {raw: `{"query":"m","timeout":"-1s"}`, wantErr: `timeout "-1s": give a positive duration such as 30s`},
		"namespaced without a name": {raw: `{"query":"m","secretRef":{"namespaced":true}}`, wantErr: "secretRef.namespaced needs secretRef.name"},
		"two faults":                {raw: `{"timeout":"x"}`, wantErr: "query: give a metric selector, e.g. builtin:service.errors.total.rate:avg\ntimeout \"x\": give a positive duration such as 30s"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(json.RawMessage(tc.raw))
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if msg != tc.wantErr || strings.Contains(msg, "s3cret") {
				t.Fatalf("error %q, want %q", msg, tc.wantErr)
			}
			if tc.wantErr != "" {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || got.timeout() != tc.wantTimeout {
				t.Errorf("timeout %s; config (-want +got):\n%s", got.timeout(), diff)
			}
		})
	}
}

// TestDocsTemplate checks that docs/analysis.md's Dynatrace example (a Secret and an
// AnalysisTemplate) is valid, and that its metric, its argument given, is measured with the
// Secret as written against a stand-in.
func TestDocsTemplate(t *testing.T) {
	b, err := os.ReadFile("../../../../docs/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(b), "```yaml\n")[1:] {
		if doc, _, _ := strings.Cut(part, "```"); strings.Contains(doc, PluginName+":") {
			block = doc
		}
	}
	docs := strings.Split(block, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("docs/analysis.md: want a Secret and an AnalysisTemplate, got %d documents:\n%s", len(docs), block)
	}
	var sec corev1.Secret
	var tmpl v1alpha1.AnalysisTemplate
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &sec); err != nil {
		t.Fatalf("the Secret: %v", err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &tmpl); err != nil {
		t.Fatalf("the template: %v", err)
	}
	if errs := v1alpha1.ValidateAnalysisTemplate(&tmpl); len(errs) > 0 {
		t.Fatalf("the template: %v", errs)
	}
	api := newStandIn(t, reply{status: 200, body: series(point("SERVICE-0123456789ABCDEF", "0.5"))})
	sec.StringData[AddressKey] = api.srv.URL
	m := tmpl.Spec.Metrics[0]
	m.Provider.Plugin[PluginName] = json.RawMessage(strings.ReplaceAll(string(m.Provider.Plugin[PluginName]), "{{args.service-id}}", "SERVICE-0123456789ABCDEF"))
	res, err := newProvider(&sec).Measure(context.Background(), run, &m)
	if err != nil {
		t.Fatal(err)
	}
	if out := condition.Evaluate(m.SuccessCondition, m.FailureCondition, res.Value); out.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Errorf("phase %s (%s)", out.Phase, out.Reason)
	}
	want := map[string]string{"from": "now-5m", "resolution": "Inf",
		"metricSelector": `builtin:service.errors.total.rate:filter(eq("dt.entity.service","SERVICE-0123456789ABCDEF")):splitBy()`}
	if diff := cmp.Diff(want, api.requests()[0].Query); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
}
