package dynatrace

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
