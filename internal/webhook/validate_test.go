package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
)

func rollout(name string, weight int32) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To(weight)}}}},
		},
	}
}

func raw(t *testing.T, obj any) runtime.RawExtension {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.RawExtension{Raw: b}
}

func request(t *testing.T, kind string, op admissionv1.Operation, obj, old any) *admissionv1.AdmissionRequest {
	t.Helper()
	req := &admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      metav1.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: kind},
		Operation: op,
		Object:    raw(t, obj),
	}
	if old != nil {
		req.OldObject = raw(t, old)
	}
	return req
}

func TestReview(t *testing.T) {
	deleting := rollout("gone", 150)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	for name, c := range map[string]struct {
		req     *admissionv1.AdmissionRequest
		allowed bool
		message string
	}{
		"valid rollout":   {req: request(t, "Rollout", admissionv1.Create, rollout("ok", 20), nil), allowed: true},
		"invalid rollout": {req: request(t, "Rollout", admissionv1.Create, rollout("bad", 150), nil), message: `Rollout.argoproj.io "bad" is invalid: spec.strategy.steps[0].setWeight: Invalid value: 150`},
		"update to an invalid spec": {req: request(t, "Rollout", admissionv1.Update, rollout("bad", 150), rollout("bad", 20)),
			message: "spec.strategy.steps[0].setWeight"},
		"update of an invalid rollout that leaves its spec": {req: request(t, "Rollout", admissionv1.Update, rollout("old", 150), rollout("old", 150)), allowed: true},
		"deletion":                  {req: request(t, "Rollout", admissionv1.Delete, rollout("bad", 150), nil), allowed: true},
		"object being deleted":      {req: request(t, "Rollout", admissionv1.Update, deleting, rollout("gone", 20)), allowed: true},
		"analysis template":         {req: request(t, "AnalysisTemplate", admissionv1.Create, &v1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "t"}}, nil), message: "spec.metrics: Required value"},
		"cluster analysis template": {req: request(t, "ClusterAnalysisTemplate", admissionv1.Create, &v1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, nil), message: `ClusterAnalysisTemplate.argoproj.io "c" is invalid: spec.metrics`},
		"analysis run":              {req: request(t, "AnalysisRun", admissionv1.Create, &v1alpha1.AnalysisRun{ObjectMeta: metav1.ObjectMeta{Name: "r"}}, nil), message: "spec.metrics: Required value"},
		"experiment":                {req: request(t, "Experiment", admissionv1.Create, &v1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Name: "e"}}, nil), message: "spec.templates: Required value"},
		"another group":             {req: &admissionv1.AdmissionRequest{Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Rollout"}, Operation: admissionv1.Create}, allowed: true},
		"not JSON":                  {req: &admissionv1.AdmissionRequest{Kind: metav1.GroupVersionKind{Group: "argoproj.io", Kind: "Rollout"}, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte("{")}}, message: "decoding Rollout"},
	} {
		t.Run(name, func(t *testing.T) {
			res := Review(c.req)
			if res.Allowed != c.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", res.Allowed, c.allowed, res.Result)
			}
			if c.allowed {
				return
			}
			if res.Result == nil || !strings.Contains(res.Result.Message, c.message) {
				t.Errorf("message %q, want it to contain %q", res.Result.Message, c.message)
			}
		})
	}
}

func TestInvalidStatusCarriesTheFieldPaths(t *testing.T) {
	res := Review(request(t, "Rollout", admissionv1.Create, rollout("bad", 150), nil))
	if res.Result.Code != http.StatusUnprocessableEntity || res.Result.Reason != metav1.StatusReasonInvalid {
		t.Errorf("status %d %s, want 422 Invalid", res.Result.Code, res.Result.Reason)
	}
	if res.Result.Details == nil || len(res.Result.Details.Causes) != 1 || res.Result.Details.Causes[0].Field != "spec.strategy.steps[0].setWeight" {
		t.Errorf("details %+v, want one cause at spec.strategy.steps[0].setWeight", res.Result.Details)
	}
}

func TestHandlerRoundTrip(t *testing.T) {
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  request(t, "Rollout", admissionv1.Create, rollout("bad", 150), nil),
	}
	body, _ := json.Marshal(review)
	rec := httptest.NewRecorder()
	Handler{}.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body)))
	var got admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.String())
	}
	if got.Response == nil || got.Response.UID != "uid-1" || got.Response.Allowed || got.Request != nil {
		t.Errorf("response %+v, want uid-1 refused and no request echoed", got.Response)
	}
	if got.APIVersion != "admission.k8s.io/v1" || got.Kind != "AdmissionReview" {
		t.Errorf("type %s/%s, want admission.k8s.io/v1 AdmissionReview", got.APIVersion, got.Kind)
	}
	rec = httptest.NewRecorder()
	Handler{}.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, strings.NewReader("nope")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("garbage: status %d, want 400", rec.Code)
	}
}
