package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLintFlagger: flagger.app documents are decoded strictly (unknown fields by path) and
// validated; each case's output lines are compared whole.
func TestLintFlagger(t *testing.T) {
	const canary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: c}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
  service: {port: 80%s}
  analysis: {interval: 1m, threshold: 2, iterations: 3%s}
`
	cases := map[string]struct {
		doc  string
		want []string
	}{
		"valid canary": {fmtDoc(canary, "", ""), nil},
		"unknown field": {fmtDoc(canary, ", bogus: 1", ""),
			[]string{`f:1: Canary/c: spec.service.bogus: Forbidden: unknown field`}},
		"two strategies": {fmtDoc(canary, "", ", stepWeight: 5"),
			[]string{`f:1: Canary/c: spec.analysis: Invalid value: 2: exactly one of iterations, stepWeight and stepWeights is required`}},
		"metric template type": {"apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: m}\nspec: {provider: {type: splunk}, query: up}\n",
			[]string{`f:1: MetricTemplate/m: spec.provider.type: Unsupported value: "splunk": supported values: "cloudwatch", "datadog", "dynatrace", "graphite", "influxdb", "newrelic", "prometheus", "stackdriver"`}},
		"alert provider no address": {"apiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata: {name: a}\nspec: {type: slack}\n",
			[]string{`f:1: AlertProvider/a: spec.address: Required value: address or secretRef is required`}},
		"other group skipped": {"apiVersion: example.com/v1\nkind: Canary\nmetadata: {name: x}\nspec: {bogus: 1}\n", nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			n := lintDocument(&out, "f", 1, []byte(tc.doc))
			var got []string
			if s := strings.TrimSpace(out.String()); s != "" {
				got = strings.Split(s, "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if n != len(tc.want) {
				t.Errorf("lintDocument counted %d problems, printed %d lines", n, len(tc.want))
			}
		})
	}
}

func fmtDoc(format string, a ...any) string { return fmt.Sprintf(format, a...) }
