package localcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// InstallCRDs creates (or updates) every CustomResourceDefinition in dir's YAML files and waits
// until each is Established. A missing folder installs nothing.
func InstallCRDs(ctx context.Context, c client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading CRD: %w", err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			return fmt.Errorf("decoding CRD %s: %w", f, err)
		}
		if err := applyCRD(ctx, c, &crd); err != nil {
			return fmt.Errorf("installing CRD %s: %w", f, err)
		}
	}
	return nil
}

func applyCRD(ctx context.Context, c client.Client, crd *apiextensionsv1.CustomResourceDefinition) error {
	var existing apiextensionsv1.CustomResourceDefinition
	err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, &existing)
	switch {
	case apierrors.IsNotFound(err):
		err = c.Create(ctx, crd)
	case err == nil:
		crd.ResourceVersion = existing.ResourceVersion
		err = c.Update(ctx, crd)
	}
	if err != nil {
		return err
	}
	return WaitEstablished(ctx, c, crd.Name)
}

// WaitEstablished waits until the named CRD is Established (served).
func WaitEstablished(ctx context.Context, c client.Client, name string) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			return false, nil
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}
