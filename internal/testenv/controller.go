package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
)

// controllerServiceAccount is the identity of config/rbac's ServiceAccount.
const controllerServiceAccount = "system:serviceaccount:vane-system:vane-controller"

// ControllerIdentity installs the controller's generated RBAC (config/rbac, in namespace
// vane-system) and returns a config that acts as its ServiceAccount.
func (e *Env) ControllerIdentity() (*rest.Config, error) {
	err := e.ApplyFiles("config/rbac/role.yaml", "config/rbac/service_account.yaml", "config/rbac/role_binding.yaml")
	if err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: controllerServiceAccount}
	return cfg, nil
}

// ApplyFiles creates every object of the YAML files (paths relative to the repository), in
// their own namespaces, after namespace vane-system; an object that exists is left as it is.
func (e *Env) ApplyFiles(paths ...string) error {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vane-system"}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(e.RepoRoot, p))
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := e.Client.Create(ctx, u); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("%s: %s %s: %w", p, u.GetKind(), u.GetName(), err)
			}
		}
	}
	return nil
}
