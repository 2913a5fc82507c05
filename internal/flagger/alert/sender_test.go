package alert

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

func fakeReader(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := flaggerv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

func provider(ns, name, kind string, spec flaggerv1.AlertProviderSpec) *flaggerv1.AlertProvider {
	spec.Type = kind
	return &flaggerv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func canary(alerts ...flaggerv1.CanaryAlert) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: flaggerv1.CanarySpec{
			TargetRef: flaggerv1.TargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Analysis:  &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: ptr.To[int32](5), Alerts: alerts},
		},
	}
}

func ref(name, severity, provider string) flaggerv1.CanaryAlert {
	return flaggerv1.CanaryAlert{Name: name, Severity: severity,
		ProviderRef: flaggerv1.CrossNamespaceObjectReference{Name: provider}}
}

// paths lists the paths the stand-in was posted to, in order.
func paths(rec *recorder) []string {
	var out []string
	for _, r := range rec.got() {
		out = append(out, r.Path)
	}
	return out
}

// TestAlertSeverity: info alerts get every event, warn alerts warn and error events, error
// alerts error events; an alert without severity counts as info.
func TestAlertSeverity(t *testing.T) {
	tests := map[string]struct {
		event string
		want  []string
	}{
		"info event":  {event: SeverityInfo, want: []string{"/info", "/default"}},
		"warn event":  {event: SeverityWarn, want: []string{"/info", "/warn", "/default"}},
		"error event": {event: SeverityError, want: []string{"/info", "/warn", "/error", "/default"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t)
			var objs []client.Object
			for _, p := range []string{"info", "warn", "error", "default"} {
				objs = append(objs, provider("test", p, "msteams",
					flaggerv1.AlertProviderSpec{Address: rec.srv.URL + "/" + p}))
			}
			s := &Sender{Reader: fakeReader(t, objs...)}
			cd := canary(ref("i", "info", "info"), ref("w", "warn", "warn"), ref("e", "error", "error"),
				ref("d", "", "default"))
			if err := s.Alert(context.Background(), cd, "text", false, tc.event); err != nil {
				t.Fatalf("Alert: %v", err)
			}
			if diff := cmp.Diff(tc.want, paths(rec)); diff != "" {
				t.Errorf("posted to (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAlertSecret: the Secret's address wins over spec.address, its token is the bearer token,
// the provider is read from providerRef.namespace with its Secret, and username and channel
// default to flagger and general.
func TestAlertSecret(t *testing.T) {
	rec := newRecorder(t)
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "alerts", Name: "slack-url"},
		Data: map[string][]byte{"address": []byte(rec.srv.URL + "/from-secret"), "token": []byte("xoxb-1")}}
	p := provider("alerts", "slack", "slack", flaggerv1.AlertProviderSpec{
		Address: rec.srv.URL + "/from-spec", SecretRef: &flaggerv1.LocalObjectReference{Name: "slack-url"}})
	s := &Sender{Reader: fakeReader(t, sec, p), ClusterName: "prod-eu"}
	a := ref("slack", "info", "slack")
	a.ProviderRef.Namespace = "alerts"
	if err := s.Alert(context.Background(), canary(a), "Canary is waiting for approval.", false, SeverityWarn); err != nil {
		t.Fatalf("Alert: %v", err)
	}
	want := []request{{Method: http.MethodPost, Path: "/from-secret", ContentType: "application/json",
		Authorization: "Bearer xoxb-1", Body: decode(t, `{"channel":"general","username":"flagger","icon_url":"",
		"icon_emoji":":rocket:","attachments":[{"color":"good","author_name":"podinfo.test",
		"text":"Canary is waiting for approval.","mrkdwn_in":["text"],
		"fields":[{"title":"Cluster","value":"prod-eu","short":false}]}]}`)}}
	if diff := cmp.Diff(want, rec.got()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

// TestAlertFailures: each failing provider is reported by namespace/name, and the others are
// still posted to.
func TestAlertFailures(t *testing.T) {
	tests := map[string]struct {
		objs   func(url string) []client.Object
		alerts []flaggerv1.CanaryAlert
		want   []string
	}{
		"missing provider": {
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "absent")},
			want:   []string{`alert "a", provider test/absent: reading the AlertProvider: alertproviders.flagger.app "absent" not found`},
		},
		"missing address key": {
			objs: func(string) []client.Object {
				return []client.Object{
					provider("test", "p", "slack", flaggerv1.AlertProviderSpec{SecretRef: &flaggerv1.LocalObjectReference{Name: "s"}}),
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "s"},
						Data: map[string][]byte{"token": []byte("t")}},
				}
			},
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "p")},
			want:   []string{`alert "a", provider test/p: spec.secretRef s: the Secret has no "address" key`},
		},
		"missing secret": {
			objs: func(string) []client.Object {
				return []client.Object{provider("test", "p", "slack",
					flaggerv1.AlertProviderSpec{SecretRef: &flaggerv1.LocalObjectReference{Name: "s"}})}
			},
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "p")},
			want:   []string{`alert "a", provider test/p: reading spec.secretRef s: secrets "s" not found`},
		},
		"unknown type": {
			objs: func(url string) []client.Object {
				return []client.Object{provider("test", "p", "email", flaggerv1.AlertProviderSpec{Address: url + "/x"})}
			},
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "p")},
			want: []string{`alert "a", provider test/p: spec: alert provider type "email" is not supported ` +
				`(supported: discord, gchat, msteams, rocket, slack)`},
		},
		"secret address not http": {
			objs: func(string) []client.Object {
				return []client.Object{
					provider("test", "p", "discord", flaggerv1.AlertProviderSpec{SecretRef: &flaggerv1.LocalObjectReference{Name: "s"}}),
					&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "s"},
						Data: map[string][]byte{"address": []byte("discord.com/api/webhooks/1/secret")}},
				}
			},
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "p")},
			want:   []string{`alert "a", provider test/p: spec: address is not an http(s) URL (scheme "")`},
		},
		"service error redacted, two failures": {
			objs: func(url string) []client.Object {
				return []client.Object{provider("test", "p", "slack", flaggerv1.AlertProviderSpec{Address: url + "/fail/T0/s3cr3t"})}
			},
			alerts: []flaggerv1.CanaryAlert{ref("a", "", "p"), ref("b", "bogus", "p")},
			want: []string{
				`alert "a", provider test/p: posting the slack message to http://HOST/<redacted>: answered 403 Forbidden: action_prohibited`,
				`alert "b", provider test/p: severity "bogus" is not one of info, warn, error`,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t)
			rec.failPrefix = "/fail/"
			objs := []client.Object{provider("test", "ok", "gchat", flaggerv1.AlertProviderSpec{Address: rec.srv.URL + "/ok"})}
			if tc.objs != nil {
				objs = append(objs, tc.objs(rec.srv.URL)...)
			}
			s := &Sender{Reader: fakeReader(t, objs...)}
			cd := canary(append(tc.alerts, ref("ok", "", "ok"))...)
			err := s.Alert(context.Background(), cd, "text", true, SeverityError)
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("Alert error %v; want joined errors", err)
			}
			var got []string
			for _, e := range joined.Unwrap() {
				got = append(got, strings.ReplaceAll(e.Error(), strings.TrimPrefix(rec.srv.URL, "http://"), "HOST"))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var okPosts int
			for _, r := range rec.got() {
				if r.Path == "/ok" {
					okPosts++
				}
			}
			if okPosts != 1 {
				t.Errorf("the working provider got %d posts, want 1", okPosts)
			}
		})
	}
}

// TestAlertNothingToDo: without alerts nothing is read or sent; a bad event severity is refused.
func TestAlertNothingToDo(t *testing.T) {
	noAnalysis := canary()
	noAnalysis.Spec.Analysis = nil
	tests := map[string]struct {
		cd       *flaggerv1.Canary
		severity string
		want     string
	}{
		"no analysis":    {cd: noAnalysis, severity: SeverityError},
		"no alerts":      {cd: canary(), severity: SeverityError},
		"event severity": {cd: canary(ref("a", "", "p")), severity: "fatal", want: `alert severity "fatal" is not one of info, warn, error`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &Sender{Reader: fakeReader(t)}
			var got string
			if err := s.Alert(context.Background(), tc.cd, "text", true, tc.severity); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAlertMetadata: with metadata, the Cluster field comes first, then Flagger's metadata.
func TestAlertMetadata(t *testing.T) {
	rec := newRecorder(t)
	s := &Sender{Reader: fakeReader(t, provider("test", "teams", "msteams",
		flaggerv1.AlertProviderSpec{Address: rec.srv.URL + "/webhookb2/x"})), ClusterName: "c1"}
	cd := canary(ref("teams", "error", "teams"))
	cd.Spec.Analysis.StepWeight = ptr.To[int32](10)
	cd.Spec.Analysis.MaxWeight = ptr.To[int32](50)
	if err := s.Alert(context.Background(), cd, "Failed checks threshold reached 5", true, SeverityError); err != nil {
		t.Fatalf("Alert: %v", err)
	}
	want := decode(t, `{"@type":"MessageCard","@context":"http://schema.org/extensions","themeColor":"FF0000",
		"summary":"podinfo.test","sections":[{"activityTitle":"Failed checks threshold reached 5",
		"activitySubtitle":"podinfo.test","facts":[{"name":"Cluster","value":"c1"},
		{"name":"Target","value":"Deployment/podinfo.test"},{"name":"Failed checks threshold","value":"5"},
		{"name":"Progress deadline","value":"600s"},{"name":"Traffic routing","value":"Weight step: 10 max: 50"}]}]}`)
	got := rec.got()
	if len(got) != 1 {
		t.Fatalf("got %d posts, want 1", len(got))
	}
	if diff := cmp.Diff(want, got[0].Body); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestMetadata: the fields Flagger's alertMetadata builds, for each kind of analysis.
func TestMetadata(t *testing.T) {
	base := []Field{{Name: "Target", Value: "Deployment/podinfo.test"}, {Name: "Failed checks threshold", Value: "1"},
		{Name: "Progress deadline", Value: "120s"}}
	routing := func(v string) []Field {
		return append(append([]Field{}, base...), Field{Name: "Traffic routing", Value: v})
	}
	tests := map[string]struct {
		analysis *flaggerv1.CanaryAnalysis
		want     []Field
	}{
		"no analysis":        {want: base},
		"step weight":        {analysis: &flaggerv1.CanaryAnalysis{StepWeight: ptr.To[int32](5)}, want: routing("Weight step: 5 max: 0")},
		"step weights":       {analysis: &flaggerv1.CanaryAnalysis{StepWeights: []int32{1, 10, 50}, MaxWeight: ptr.To[int32](50)}, want: routing("Weight steps: 1,10,50 max: 50")},
		"a/b":                {analysis: &flaggerv1.CanaryAnalysis{Iterations: ptr.To[int32](10), Match: []flaggerv1.AnalysisMatch{{SourceLabels: map[string]string{"a": "b"}}}}, want: routing("A/B Testing")},
		"blue/green":         {analysis: &flaggerv1.CanaryAnalysis{Iterations: ptr.To[int32](10)}, want: routing("Blue/Green")},
		"zero threshold":     {analysis: &flaggerv1.CanaryAnalysis{Threshold: ptr.To[int32](0)}, want: base},
		"mirror, no routing": {analysis: &flaggerv1.CanaryAnalysis{Mirror: ptr.To(true)}, want: base},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cd := canary()
			cd.Spec.Analysis = tc.analysis
			cd.Spec.ProgressDeadlineSeconds = ptr.To[int32](120)
			if diff := cmp.Diff(tc.want, Metadata(cd)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}
