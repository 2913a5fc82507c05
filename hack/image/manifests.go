package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// manifestOptions are the flags of `image manifests`.
type manifestOptions struct {
	out, config, imageDir, repo, version, namespace string
}

func manifestFlags(fs *flag.FlagSet) *manifestOptions {
	o := &manifestOptions{}
	fs.StringVar(&o.out, "out", "dist", "folder of install.yaml and namespace-install.yaml")
	fs.StringVar(&o.config, "config", "config", "the repository's config folder (CRDs, generated RBAC, manager)")
	fs.StringVar(&o.imageDir, "image-dir", "_output/image", "where `image build` wrote image.json; its digest pins the image")
	fs.StringVar(&o.repo, "repo", "ghcr.io/vanedev/vane", "image repository")
	fs.StringVar(&o.version, "version", "dev", "image tag when no image was built")
	fs.StringVar(&o.namespace, "namespace", "vane-system", "namespace the controller runs in (and, namespaced, watches)")
	return o
}

// install is what both install files are made from.
type install struct {
	namespace string
	image     string
	crds      [][]byte
	rules     []rbacv1.PolicyRule
	manager   *appsv1.Deployment
	nsObject  *corev1.Namespace
}

// writeManifests writes out/install.yaml (cluster-wide) and out/namespace-install.yaml (one
// namespace) from config/ and the image reference.
func writeManifests(o *manifestOptions) error {
	in, err := loadInstall(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.out, err)
	}
	for _, f := range []struct {
		name       string
		namespaced bool
	}{{"install.yaml", false}, {"namespace-install.yaml", true}} {
		docs, err := in.objects(f.namespaced)
		if err != nil {
			return err
		}
		b, err := render(in, f.namespaced, docs)
		if err != nil {
			return err
		}
		path := filepath.Join(o.out, f.name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Printf("manifests: wrote %s (%d CRDs, %d other objects; image %s)\n", relPath(path), len(in.crds), len(docs), in.image)
	}
	return nil
}

// loadInstall reads the CRDs, the generated ClusterRole's rules and the manager's Namespace
// and Deployment from config/, and resolves the image reference.
func loadInstall(o *manifestOptions) (*install, error) {
	in := &install{namespace: o.namespace}
	var err error
	if in.image, err = imageRef(o); err != nil {
		return nil, err
	}
	crds, err := filepath.Glob(filepath.Join(o.config, "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		return nil, fmt.Errorf("no CRDs in %s/crd/bases (err: %v)", o.config, err)
	}
	sort.Strings(crds)
	for _, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		in.crds = append(in.crds, bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("---"))))
	}
	var role rbacv1.ClusterRole
	if err := readObject(filepath.Join(o.config, "rbac", "role.yaml"), "ClusterRole", &role); err != nil {
		return nil, err
	}
	in.rules = role.Rules
	in.manager, in.nsObject = &appsv1.Deployment{}, &corev1.Namespace{}
	mgr := filepath.Join(o.config, "manager", "manager.yaml")
	if err := readObject(mgr, "Deployment", in.manager); err != nil {
		return nil, err
	}
	if err := readObject(mgr, "Namespace", in.nsObject); err != nil {
		return nil, err
	}
	return in, nil
}

// imageRef is repo:tag@digest when `image build` left an image.json, else repo:version.
func imageRef(o *manifestOptions) (string, error) {
	b, err := os.ReadFile(filepath.Join(o.imageDir, "image.json"))
	if os.IsNotExist(err) {
		fmt.Printf("manifests: no %s: the image is not pinned by digest (run make image first)\n", relPath(filepath.Join(o.imageDir, "image.json")))
		return o.repo + ":" + o.version, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading image.json: %w", err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(o.imageDir, "image.json"), err)
	}
	if !strings.HasPrefix(s.Digest, "sha256:") {
		return "", fmt.Errorf("%s: no digest", filepath.Join(o.imageDir, "image.json"))
	}
	return o.repo + ":" + s.Tag + "@" + s.Digest, nil
}

// readObject decodes the document of the given kind from a multi-document YAML file.
func readObject(path, kind string, into any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	r := utilyaml.NewYAMLReader(bufioReader(b))
	for {
		doc, err := r.Read()
		if err != nil {
			return fmt.Errorf("%s: no %s found: %w", path, kind, err)
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if yaml.Unmarshal(doc, &head) == nil && head.Kind == kind {
			if err := yaml.UnmarshalStrict(doc, into); err != nil {
				return fmt.Errorf("%s: %s: %w", path, kind, err)
			}
			return nil
		}
	}
}

// render writes the header and the documents.
func render(in *install, namespaced bool, docs []any) ([]byte, error) {
	var b bytes.Buffer
	scope := "cluster-wide: a ClusterRole, the controller watches every namespace"
	if namespaced {
		scope = "namespaced: a Role, the controller watches namespace " + in.namespace + " only"
	}
	fmt.Fprintf(&b, "# Vane's install manifests, %s. Generated by `make manifests`\n", scope)
	fmt.Fprintf(&b, "# (hack/image) from config/; do not edit. Image: %s\n", in.image)
	fmt.Fprintf(&b, "#   kubectl apply --server-side -f %s\n", map[bool]string{false: "install.yaml", true: "namespace-install.yaml"}[namespaced])
	for _, crd := range in.crds {
		b.WriteString("---\n")
		b.Write(crd)
		b.WriteString("\n")
	}
	for _, d := range docs {
		y, err := cleanYAML(d)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

// cleanYAML marshals a typed object without the empty fields the API types always carry
// (metadata.creationTimestamp, status).
func cleanYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, fmt.Errorf("decoding %T: %w", obj, err)
	}
	delete(m, "status")
	if spec, ok := m["spec"].(map[string]any); ok {
		if st, ok := spec["strategy"].(map[string]any); ok && len(st) == 0 {
			delete(spec, "strategy") // a Deployment's, left to its default
		}
		if len(spec) == 0 {
			delete(m, "spec")
		}
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	stripCreationTimestamps(m)
	y, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	return y, nil
}

// stripCreationTimestamps removes the null creationTimestamp of embedded templates.
func stripCreationTimestamps(v any) {
	switch x := v.(type) {
	case map[string]any:
		if ts, ok := x["creationTimestamp"]; ok && ts == nil {
			delete(x, "creationTimestamp")
		}
		for _, c := range x {
			stripCreationTimestamps(c)
		}
	case []any:
		for _, c := range x {
			stripCreationTimestamps(c)
		}
	}
}
