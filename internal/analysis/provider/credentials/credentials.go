// Package credentials reads the Secrets that hold metric providers' keys, where Argo Rollouts
// looks for them: in the controller's namespace (datadog, newrelic, influxdb,
// wavefront-api-tokens), or in the analysis' own namespace when a metric asks for it.
//
// Secrets are read straight from the API server on every measurement (the controller caches
// none), so a key that is rotated is used at the next measurement. Errors name the Secret and
// the missing keys, never a value.
package credentials

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultControllerNamespace is the controller's namespace when nothing else tells it, as in
// Argo Rollouts.
const DefaultControllerNamespace = "argo-rollouts"

// serviceAccountNamespace is where a pod finds its namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// ControllerNamespace returns the controller's namespace as Argo Rollouts finds its own:
// $POD_NAMESPACE, else the namespace of the pod's service account, else argo-rollouts.
func ControllerNamespace() string {
	if ns, ok := os.LookupEnv("POD_NAMESPACE"); ok {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return DefaultControllerNamespace
}

// Store reads provider Secrets.
type Store struct {
	// Reader reads Secrets from the API server (not from a cache).
	Reader client.Reader
	// Namespace is the controller's namespace (ControllerNamespace when empty).
	Namespace string
}

// ControllerNamespace returns the namespace of the controller's Secrets.
func (s Store) ControllerNamespace() string {
	if s.Namespace != "" {
		return s.Namespace
	}
	return ControllerNamespace()
}

// Secret is a Secret's data, with where it came from for messages.
type Secret struct {
	// Namespace and Name of the Secret.
	Namespace, Name string
	// Data is the Secret's data.
	Data map[string][]byte
}

// Get reads the Secret namespace/name. A missing Secret is an error that says which.
func (s Store) Get(ctx context.Context, namespace, name string) (Secret, error) {
	if s.Reader == nil {
		return Secret{}, fmt.Errorf("cannot read the Secret %s/%s: no API reader", namespace, name)
	}
	sec := &corev1.Secret{}
	if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return Secret{}, fmt.Errorf("the Secret %s/%s does not exist", namespace, name)
		}
		return Secret{}, fmt.Errorf("reading the Secret %s/%s: %w", namespace, name, err)
	}
	data := map[string][]byte{}
	for k, v := range sec.Data {
		data[k] = v
	}
	for k, v := range sec.StringData { // only set on objects that were never stored (fakes)
		data[k] = []byte(v)
	}
	return Secret{Namespace: namespace, Name: name, Data: data}, nil
}

// Value returns the key's value as a string ("" when missing).
func (s Secret) Value(key string) string { return string(s.Data[key]) }

// Has reports whether the Secret has the key (even empty).
func (s Secret) Has(key string) bool {
	_, ok := s.Data[key]
	return ok
}

// Require returns an error naming the keys that are missing or empty, or nil.
func (s Secret) Require(keys ...string) error {
	var missing []string
	for _, k := range keys {
		if len(s.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return fmt.Errorf("the Secret %s/%s has no %s", s.Namespace, s.Name, strings.Join(quote(missing), ", "))
}

func quote(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%q", k)
	}
	return out
}
