package keptn

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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/actions"
)

// deploy applies the service's manifests the first time (no Rollout yet) and sets the image
// afterwards; it is over when the controller has seen the change and the rollout pauses or is
// Healthy.
func (s *Service) deploy(ctx context.Context, target Target, t *Task) error {
	ro := &v1alpha1.Rollout{}
	err := s.opts.Client.Get(ctx, client.ObjectKey{Namespace: target.Namespace, Name: target.Name}, ro)
	switch {
	case apierrors.IsNotFound(err):
		if err := s.applyFirst(ctx, target, t); err != nil {
			return s.finish(ctx, target, t, ResultFail, StatusErrored, "first deployment: "+err.Error())
		}
		ctrl.LoggerFrom(ctx).Info("first deployment applied", "image", t.Image)
	case err != nil:
		return fmt.Errorf("rollout %s/%s: %w", target.Namespace, target.Name, err)
	case t.Image == "":
		return s.finish(ctx, target, t, ResultFail, StatusErrored, "no image in data.configurationChange.values.image")
	default:
		container := containerFor(ro, t.Service)
		if err := actions.SetImage(ctx, s.opts.Client, target.Namespace, target.Name, container, t.Image); err != nil {
			return fmt.Errorf("setting the image: %w", err)
		}
	}
	if err := s.opts.Client.Get(ctx, client.ObjectKey{Namespace: target.Namespace, Name: target.Name}, ro); err != nil {
		return fmt.Errorf("rollout %s/%s: %w", target.Namespace, target.Name, err)
	}
	uris, err := s.serviceURIs(ctx, ro)
	if err != nil {
		return err
	}
	gen := ro.Generation
	return s.save(ctx, target, t, func(x *Task) { x.State, x.Generation, x.URIs = stateAwaiting, gen, uris })
}

// containerFor names the container a deployment sets the image of: the one named after the
// service, else the first.
func containerFor(ro *v1alpha1.Rollout, service string) string {
	cs := ro.Spec.Template.Spec.Containers
	for _, c := range cs {
		if c.Name == service {
			return c.Name
		}
	}
	if len(cs) == 0 {
		return "*"
	}
	return cs[0].Name
}

// applyFirst creates the objects of Manifests/SERVICE.yaml in the target's namespace: the
// Rollout renamed to the target, with the event's image when it has one.
func (s *Service) applyFirst(ctx context.Context, target Target, t *Task) error {
	if s.opts.Manifests == "" {
		return errors.New("no rollout to update and no manifests folder (--manifests) to create it from")
	}
	objs, err := readManifests(filepath.Join(s.opts.Manifests, t.Service+".yaml"))
	if err != nil {
		return err
	}
	for _, u := range objs {
		u.SetNamespace(target.Namespace)
		var obj client.Object = u
		if u.GetKind() == "Rollout" {
			ro := &v1alpha1.Rollout{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ro); err != nil {
				return fmt.Errorf("the Rollout in the manifests: %w", err)
			}
			ro.Name = target.Name
			if t.Image != "" {
				c := containerFor(ro, t.Service)
				for i := range ro.Spec.Template.Spec.Containers {
					if c == "*" || ro.Spec.Template.Spec.Containers[i].Name == c {
						ro.Spec.Template.Spec.Containers[i].Image = t.Image
					}
				}
			}
			obj = ro
		}
		if err := s.opts.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

func readManifests(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the service's manifests: %w", err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no object", path)
	}
	return out, nil
}

// serviceURIs returns http://NAME.NAMESPACE.svc.cluster.local:PORT for each Service whose
// selector picks the rollout's pods.
func (s *Service) serviceURIs(ctx context.Context, ro *v1alpha1.Rollout) ([]string, error) {
	var list corev1.ServiceList
	if err := s.opts.Client.List(ctx, &list, client.InNamespace(ro.Namespace)); err != nil {
		return nil, fmt.Errorf("listing the Services of %s: %w", ro.Namespace, err)
	}
	podLabels := labels.Set(ro.Spec.Template.Labels)
	var uris []string
	for _, svc := range list.Items {
		if len(svc.Spec.Selector) == 0 || len(svc.Spec.Ports) == 0 {
			continue
		}
		// the controller adds the pod-template hash to selectors it manages: ignore it
		delete(svc.Spec.Selector, v1alpha1.PodTemplateHashLabel)
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		if sel.Matches(podLabels) {
			uris = append(uris, fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port))
		}
	}
	return uris, nil
}
