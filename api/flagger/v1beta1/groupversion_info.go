// Package v1beta1 holds the Go types of Flagger's API (group flagger.app, version v1beta1):
// Canary, MetricTemplate and AlertProvider. They are Vane's own types, written from the schema
// of Flagger's CRDs so that every field those CRDs accept is accepted here too, and manifests
// written for Flagger decode into them unchanged.
//
// Like api/v1alpha1, the package holds no controller logic: types, scheme registration and
// pure validation functions (validation.go) that `vane lint` and the controller can share.
//
// +kubebuilder:object:generate=true
// +groupName=flagger.app
package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "flagger.app", Version: "v1beta1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds every kind of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(
		&Canary{}, &CanaryList{},
		&MetricTemplate{}, &MetricTemplateList{},
		&AlertProvider{}, &AlertProviderList{},
	)
}
