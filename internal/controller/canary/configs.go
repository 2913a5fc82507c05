package canary

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Config kinds, as Flagger keys tracked configs ("configmap/NAME", "secret/NAME").
const (
	configMapRef = "configmap"
	secretRef    = "secret"
	// trackingAnnotation set to "disabled" on a ConfigMap or Secret keeps it out of tracking.
	trackingAnnotation = "flagger.app/config-tracking"
)

// ref is a place in a pod spec that names a ConfigMap or Secret.
type ref struct {
	kind     string
	name     *string
	optional *bool
}

// refsOf lists the ConfigMap and Secret references of a pod spec: volumes (projected too) and
// the env and envFrom of its containers (and init containers, when init).
func refsOf(spec *corev1.PodSpec, init bool) []ref {
	var out []ref
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil {
			out = append(out, ref{configMapRef, &v.ConfigMap.Name, v.ConfigMap.Optional})
		}
		if v.Secret != nil {
			out = append(out, ref{secretRef, &v.Secret.SecretName, v.Secret.Optional})
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					out = append(out, ref{configMapRef, &s.ConfigMap.Name, s.ConfigMap.Optional})
				}
				if s.Secret != nil {
					out = append(out, ref{secretRef, &s.Secret.Name, s.Secret.Optional})
				}
			}
		}
	}
	containers := spec.Containers
	if init {
		containers = append(append([]corev1.Container{}, containers...), spec.InitContainers...)
	}
	for c := range containers {
		out = append(out, containerRefs(&containers[c])...)
	}
	return out
}

func containerRefs(c *corev1.Container) []ref {
	var out []ref
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			if vf.ConfigMapKeyRef != nil {
				out = append(out, ref{configMapRef, &vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Optional})
			}
			if vf.SecretKeyRef != nil {
				out = append(out, ref{secretRef, &vf.SecretKeyRef.Name, vf.SecretKeyRef.Optional})
			}
		}
	}
	for i := range c.EnvFrom {
		if e := c.EnvFrom[i]; e.ConfigMapRef != nil {
			out = append(out, ref{configMapRef, &e.ConfigMapRef.Name, e.ConfigMapRef.Optional})
		} else if e.SecretRef != nil {
			out = append(out, ref{secretRef, &e.SecretRef.Name, e.SecretRef.Optional})
		}
	}
	return out
}

// trackedConfig is a ConfigMap or Secret the target uses, with its data's checksum.
type trackedConfig struct {
	kind, name, checksum string
	obj                  client.Object
}

// key is the name Flagger tracks it under.
func (t trackedConfig) key() string { return t.kind + "/" + t.name }

// trackConfigs reads the ConfigMaps and Secrets the target's pod spec uses. A missing one is an
// error unless its reference is optional; Secrets of types Flagger does not track (service
// account tokens, docker configs) and configs annotated flagger.app/config-tracking: disabled
// are left out.
func (r *Reconciler) trackConfigs(ctx context.Context, ns string, spec *corev1.PodSpec) (map[string]trackedConfig, error) {
	spec = spec.DeepCopy()
	out := map[string]trackedConfig{}
	for _, rf := range refsOf(spec, true) {
		t, err := r.readConfig(ctx, ns, rf.kind, *rf.name)
		if err != nil {
			if rf.optional != nil && *rf.optional {
				log.FromContext(ctx).Info("optional config not read", "kind", rf.kind, "name", *rf.name, "error", err.Error())
				continue
			}
			return nil, err
		}
		if t != nil {
			out[t.key()] = *t
		}
	}
	return out, nil
}

func (r *Reconciler) readConfig(ctx context.Context, ns, kind, name string) (*trackedConfig, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	if kind == configMapRef {
		var cm corev1.ConfigMap
		if err := r.APIReader.Get(ctx, key, &cm); err != nil {
			return nil, fmt.Errorf("configmap %s.%s get query error: %w", name, ns, err)
		}
		if trackingDisabled(&cm) {
			return nil, nil
		}
		return &trackedConfig{kind: kind, name: name, checksum: checksum(cm.Data), obj: &cm}, nil
	}
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, key, &s); err != nil {
		return nil, fmt.Errorf("secret %s.%s get query error: %w", name, ns, err)
	}
	switch s.Type {
	case corev1.SecretTypeOpaque, corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth, corev1.SecretTypeTLS:
	default:
		return nil, nil
	}
	if trackingDisabled(&s) {
		return nil, nil
	}
	return &trackedConfig{kind: kind, name: name, checksum: checksum(s.Data), obj: &s}, nil
}

func trackingDisabled(o metav1.Object) bool {
	return strings.HasPrefix(o.GetAnnotations()[trackingAnnotation], "disable")
}

// checksum is Flagger's: the first 8 bytes of the SHA-256 of the data's JSON, in hex.
func checksum(data any) string {
	b, _ := json.Marshal(data)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x", sum[:8])
}

// checksums are the tracked configs as the status records them.
func checksums(configs map[string]trackedConfig) map[string]string {
	out := make(map[string]string, len(configs))
	for k, c := range configs {
		out[k] = c.checksum
	}
	return out
}

// primaryPodSpec is the target's pod spec with its tracked configs replaced by their -primary
// copies (in containers; init containers keep theirs, as in Flagger).
func primaryPodSpec(spec *corev1.PodSpec, configs map[string]trackedConfig) corev1.PodSpec {
	out := *spec.DeepCopy()
	for _, rf := range refsOf(&out, false) {
		if _, ok := configs[rf.kind+"/"+*rf.name]; ok {
			*rf.name += "-primary"
		}
	}
	return out
}

// syncPrimaryConfigs writes each tracked config's -primary copy, owned by the Canary.
func (r *Reconciler) syncPrimaryConfigs(ctx context.Context, cd *flaggerv1.Canary, configs map[string]trackedConfig) error {
	for _, c := range configs {
		var copyObj client.Object
		switch src := c.obj.(type) {
		case *corev1.ConfigMap:
			copyObj = &corev1.ConfigMap{Data: src.Data, BinaryData: src.BinaryData}
		case *corev1.Secret:
			copyObj = &corev1.Secret{Type: src.Type, Data: src.Data}
		}
		copyObj.SetName(c.name + "-primary")
		copyObj.SetNamespace(cd.Namespace)
		copyObj.SetLabels(filterToolkit(c.obj.GetLabels()))
		copyObj.SetOwnerReferences([]metav1.OwnerReference{ownerRef(cd)})
		if err := r.Client.Update(ctx, copyObj); apierrors.IsNotFound(err) {
			err = r.Client.Create(ctx, copyObj)
			if err != nil {
				return fmt.Errorf("creating %s %s.%s failed: %w", c.kind, copyObj.GetName(), cd.Namespace, err)
			}
		} else if err != nil {
			return fmt.Errorf("updating %s %s.%s failed: %w", c.kind, copyObj.GetName(), cd.Namespace, err)
		}
	}
	return nil
}
