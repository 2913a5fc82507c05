package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// creatable are the kinds `create -f` takes (Argo's plugin's five): each document is decoded
// strictly (an unknown field is an error) and checked with the API's own validation.
var creatable = map[string]func([]byte) (client.Object, field.ErrorList, error){
	"Rollout":                 decodeChecked(v1alpha1.ValidateRollout),
	"Experiment":              decodeChecked(v1alpha1.ValidateExperiment),
	"AnalysisRun":             decodeChecked(v1alpha1.ValidateAnalysisRun),
	"AnalysisTemplate":        decodeChecked(v1alpha1.ValidateAnalysisTemplate),
	"ClusterAnalysisTemplate": decodeChecked(v1alpha1.ValidateClusterAnalysisTemplate),
}

// creatableKinds lists them for error messages.
const creatableKinds = "Rollout, Experiment, AnalysisRun, AnalysisTemplate and ClusterAnalysisTemplate (argoproj.io/v1alpha1)"

func decodeChecked[T any, P interface {
	*T
	client.Object
}](validate func(P) field.ErrorList) func([]byte) (client.Object, field.ErrorList, error) {
	return func(doc []byte) (client.Object, field.ErrorList, error) {
		obj := P(new(T))
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, nil, err
		}
		return obj, validate(obj), nil
	}
}

// manifest is one object of a file given to `create -f`.
type manifest struct {
	where string // file:document
	kind  string
	obj   client.Object
}

// Create runs `create -f FILE...`: it reads every document of the files (Rollouts,
// Experiments, AnalysisRuns, AnalysisTemplates, ClusterAnalysisTemplates), checks them all, and
// only then creates them in order, each in its metadata.namespace or the current namespace,
// printing `<kind>.argoproj.io/<name> created`. Any other kind, an unknown field or an invalid
// object is an error naming the file, the document and the field, and nothing is created. With
// watch, the one Rollout or Experiment created is then shown as `get -w` shows it.
func Create(ctx context.Context, o *Options, files []string, watch bool) error {
	var all []manifest
	for _, f := range files {
		m, err := readManifests(f)
		if err != nil {
			return err
		}
		all = append(all, m...)
	}
	if watch && (len(all) != 1 || (all[0].kind != "Rollout" && all[0].kind != "Experiment")) {
		return fmt.Errorf("-w watches one Rollout or Experiment: the files hold %s", describe(all))
	}
	for _, m := range all {
		if m.kind != "ClusterAnalysisTemplate" && m.obj.GetNamespace() == "" {
			m.obj.SetNamespace(o.Namespace)
		}
		if err := o.Client.Create(ctx, m.obj); err != nil {
			return fmt.Errorf("%s: creating %s %s: %w", m.where, m.kind, nameOf(m.obj), o.explainWrite(err))
		}
		fmt.Fprintf(o.Out, "%s.%s/%s created\n", strings.ToLower(m.kind), v1alpha1.GroupVersion.Group, m.obj.GetName())
	}
	if !watch {
		return nil
	}
	w := *o
	w.Namespace = all[0].obj.GetNamespace()
	if all[0].kind == "Rollout" {
		return GetRollout(ctx, &w, all[0].obj.GetName(), true)
	}
	return GetExperiment(ctx, &w, all[0].obj.GetName(), true)
}

// readManifests decodes and checks every document of a file.
func readManifests(path string) ([]manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	reader := utilyaml.NewYAMLReader(bufioReader(b))
	var out []manifest
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, doc, err)
		}
		if empty(raw) {
			doc--
			continue
		}
		m, err := readManifest(fmt.Sprintf("%s:%d", path, doc), raw)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no object to create", path)
	}
	return out, nil
}

// empty reports whether a document holds nothing (blank, comments, a lone separator).
func empty(raw []byte) bool {
	var v any
	return len(bytes.TrimSpace(raw)) == 0 || (yaml.Unmarshal(raw, &v) == nil && v == nil)
}

// readManifest decodes and checks one document.
func readManifest(where string, raw []byte) (manifest, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(raw, &head); err != nil {
		return manifest{}, fmt.Errorf("%s: not valid YAML: %w", where, err)
	}
	if head.APIVersion == "" || head.Kind == "" {
		return manifest{}, fmt.Errorf("%s: no apiVersion or kind: vane create takes %s", where, creatableKinds)
	}
	gv, _ := schema.ParseGroupVersion(head.APIVersion)
	decode, ok := creatable[head.Kind]
	if gv != v1alpha1.GroupVersion || !ok {
		return manifest{}, fmt.Errorf("%s: cannot create %s %s: vane create takes %s", where, head.APIVersion, head.Kind, creatableKinds)
	}
	obj, errs, err := decode(raw)
	if err != nil {
		return manifest{}, fmt.Errorf("%s: %s: %w", where, head.Kind, err)
	}
	if len(errs) > 0 {
		var lines []string
		for _, e := range errs {
			lines = append(lines, fmt.Sprintf("%s: %s/%s: %s: %s", where, head.Kind, nameOf(obj), e.Field, e.ErrorBody()))
		}
		return manifest{}, fmt.Errorf("invalid %s, nothing created:\n%s", head.Kind, strings.Join(lines, "\n"))
	}
	return manifest{where: where, kind: head.Kind, obj: obj}, nil
}

// nameOf is an object's name, or its generateName followed by "*".
func nameOf(obj client.Object) string {
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		return obj.GetGenerateName() + "*"
	}
	return obj.GetName()
}

// describe says what a list of manifests holds, for -w's error.
func describe(all []manifest) string {
	if len(all) != 1 {
		return fmt.Sprintf("%d objects", len(all))
	}
	return "one " + all[0].kind
}

// explainWrite is Explain for a write: a NotFound there is the namespace missing, not the
// object, so the API server's own sentence is kept.
func (o *Options) explainWrite(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || apierrors.IsInvalid(err) {
		return err
	}
	return o.Explain(err, "", "")
}
