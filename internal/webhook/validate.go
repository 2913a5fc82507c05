// Package webhook is Vane's validating admission webhook: the API server asks it about every
// create and update of the five Argo Rollouts kinds, and it answers with the validation `vane
// lint` and the controller apply (api/v1alpha1's Validate* functions), so that an invalid
// Rollout is refused at `kubectl apply` time with its field paths instead of becoming an
// InvalidSpec Rollout later.
//
// It serves HTTPS with a certificate it creates and rotates itself in a Secret, and patches
// its CA into the ValidatingWebhookConfiguration's caBundle (certs.go, rotator.go); or, when
// cert-manager manages the Secret, it only serves what the Secret holds. `vane controller`
// runs it when --webhook-bind-address is set (options.go).
package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Path is where the webhook answers AdmissionReviews.
const Path = "/validate"

// maxReviewBytes bounds a request body (the API server sends at most a few MB).
const maxReviewBytes = 16 << 20

// checked is what validating one object gives: its name, spec (to tell a spec change from a
// metadata-only update), errors and warnings.
type checked struct {
	name     string
	spec     any
	errs     field.ErrorList
	warnings []string
}

// validators decode and validate each kind the webhook is registered for.
var validators = map[string]func([]byte) (checked, error){
	"Rollout": validator(func(o *v1alpha1.Rollout) checked {
		var warnings []string
		for _, w := range v1alpha1.RolloutWarnings(o) {
			warnings = append(warnings, w.String())
		}
		return checked{name: o.Name, spec: o.Spec, errs: v1alpha1.ValidateRollout(o), warnings: warnings}
	}),
	"AnalysisTemplate": validator(func(o *v1alpha1.AnalysisTemplate) checked {
		return checked{name: o.Name, spec: o.Spec, errs: v1alpha1.ValidateAnalysisTemplate(o)}
	}),
	"ClusterAnalysisTemplate": validator(func(o *v1alpha1.ClusterAnalysisTemplate) checked {
		return checked{name: o.Name, spec: o.Spec, errs: v1alpha1.ValidateClusterAnalysisTemplate(o)}
	}),
	"AnalysisRun": validator(func(o *v1alpha1.AnalysisRun) checked {
		return checked{name: o.Name, spec: o.Spec, errs: v1alpha1.ValidateAnalysisRun(o)}
	}),
	"Experiment": validator(func(o *v1alpha1.Experiment) checked {
		return checked{name: o.Name, spec: o.Spec, errs: v1alpha1.ValidateExperiment(o)}
	}),
}

func validator[T any](check func(*T) checked) func([]byte) (checked, error) {
	return func(raw []byte) (checked, error) {
		obj := new(T)
		if err := json.Unmarshal(raw, obj); err != nil {
			return checked{}, err
		}
		return check(obj), nil
	}
}

// Kinds are the argoproj.io kinds the webhook validates.
func Kinds() []string {
	return []string{"Rollout", "AnalysisTemplate", "ClusterAnalysisTemplate", "AnalysisRun", "Experiment"}
}

// Handler answers the API server's AdmissionReview (admission.k8s.io/v1) requests.
type Handler struct{}

// ServeHTTP decodes the review, validates its object and writes the response.
func (Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(w, fmt.Sprintf("not an AdmissionReview with a request: %v", err), http.StatusBadRequest)
		return
	}
	review.Response = Review(review.Request)
	review.Response.UID = review.Request.UID
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(&review); err != nil {
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
	}
}

// Review decides one admission request. It refuses an argoproj.io object that fails Vane's
// validation, with the field paths in a 422 Invalid status; it allows deletions, objects being
// deleted, and updates that leave the spec as it was (the controller's annotations on a
// Rollout that was stored before the webhook existed must not be blocked).
func Review(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	validate, ok := validators[req.Kind.Kind]
	if req.Kind.Group != v1alpha1.GroupVersion.Group || !ok || req.Operation == admissionv1.Delete {
		return allow
	}
	obj, err := validate(req.Object.Raw)
	if err != nil {
		return deny(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("decoding %s: %v", req.Kind.Kind, err))
	}
	if req.Operation == admissionv1.Update && unchangedSpec(validate, req.OldObject.Raw, obj) {
		return allow
	}
	if deleting(req.Object.Raw) {
		return allow
	}
	if len(obj.errs) == 0 {
		allow.Warnings = obj.warnings
		return allow
	}
	status := apierrors.NewInvalid(schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}, obj.name, obj.errs).ErrStatus
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &status, Warnings: obj.warnings}
}

func unchangedSpec(validate func([]byte) (checked, error), oldRaw []byte, obj checked) bool {
	if len(oldRaw) == 0 {
		return false
	}
	old, err := validate(oldRaw)
	return err == nil && reflect.DeepEqual(old.spec, obj.spec)
}

// deleting tells whether the object has a deletion timestamp (only finalizers are left).
func deleting(raw []byte) bool {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	return json.Unmarshal(raw, &m) == nil && m.Metadata.DeletionTimestamp != nil
}

func deny(code int32, reason metav1.StatusReason, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg}}
}

// errNoCertificate is returned to TLS handshakes before a certificate is loaded.
var errNoCertificate = errors.New("webhook: no serving certificate yet")
