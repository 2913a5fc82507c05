package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/api/v1alpha1"
)

// validators check one document of an argoproj.io kind: strict decoding, then the API's own
// validation (the function the controller uses for InvalidSpec).
var validators = map[string]func([]byte) (string, field.ErrorList, error){
	"Rollout":          check(func(o *v1alpha1.Rollout) field.ErrorList { return v1alpha1.ValidateRollout(o) }),
	"AnalysisTemplate": check(func(o *v1alpha1.AnalysisTemplate) field.ErrorList { return v1alpha1.ValidateAnalysisTemplate(o) }),
	"ClusterAnalysisTemplate": check(func(o *v1alpha1.ClusterAnalysisTemplate) field.ErrorList {
		return v1alpha1.ValidateClusterAnalysisTemplate(o)
	}),
	"AnalysisRun": check(func(o *v1alpha1.AnalysisRun) field.ErrorList { return v1alpha1.ValidateAnalysisRun(o) }),
	"Experiment":  check(func(o *v1alpha1.Experiment) field.ErrorList { return v1alpha1.ValidateExperiment(o) }),
}

// flaggerValidators check one document of a flagger.app kind: strict decoding that names the
// path of every unknown field, then what Flagger's CRD validates (flaggerv1beta1.Validate*).
var flaggerValidators = map[string]func([]byte) (string, field.ErrorList, error){
	"Canary":         checkStrictPaths(flaggerv1beta1.ValidateCanary),
	"MetricTemplate": checkStrictPaths(flaggerv1beta1.ValidateMetricTemplate),
	"AlertProvider":  checkStrictPaths(flaggerv1beta1.ValidateAlertProvider),
}

// checkStrictPaths decodes with sigs.k8s.io/json, which reports every unknown or duplicate
// field with its path (spec.analysis.foo); those are problems like the validation's.
func checkStrictPaths[T any, P interface {
	*T
	named
}](validate func(P) field.ErrorList) func([]byte) (string, field.ErrorList, error) {
	return func(doc []byte) (string, field.ErrorList, error) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return "", nil, fmt.Errorf("converting to JSON: %w", err)
		}
		obj := P(new(T))
		strict, err := sigsjson.UnmarshalStrict(js, obj)
		if err != nil {
			return "", nil, fmt.Errorf("decoding: %w", err)
		}
		var errs field.ErrorList
		for _, e := range strict {
			if m := unknownField.FindStringSubmatch(e.Error()); m != nil {
				errs = append(errs, field.Forbidden(field.NewPath(m[1]), "unknown field"))
				continue
			}
			errs = append(errs, field.Invalid(field.NewPath("(document)"), nil, e.Error()))
		}
		return obj.GetName(), append(errs, validate(obj)...), nil
	}
}

// unknownField picks the path out of sigs.k8s.io/json's strict error.
var unknownField = regexp.MustCompile(`^unknown field "(.+)"$`)

type named interface{ GetName() string }

func check[T any, P interface {
	*T
	named
}](validate func(P) field.ErrorList) func([]byte) (string, field.ErrorList, error) {
	return func(doc []byte) (string, field.ErrorList, error) {
		obj := P(new(T))
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return "", nil, err
		}
		return obj.GetName(), validate(obj), nil
	}
}

// Lint checks every document of each file and prints one line per problem:
// file:document:field: message. Documents of other kinds (Services...) are skipped. It returns
// an ExitError when anything is wrong.
func Lint(o *Options, files []string) error {
	problems := 0
	for _, f := range files {
		n, err := lintFile(o.Out, f)
		if err != nil {
			return err
		}
		problems += n
	}
	if problems > 0 {
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("%d problem(s) found", problems)}
	}
	fmt.Fprintf(o.Out, "%d file(s): no problems found\n", len(files))
	return nil
}

func lintFile(w io.Writer, path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	reader := utilyaml.NewYAMLReader(bufioReader(b))
	problems := 0
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			fmt.Fprintf(w, "%s:%d: %v\n", path, doc, err)
			return problems + 1, nil
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			doc--
			continue
		}
		problems += lintDocument(w, path, doc, raw)
	}
}

// lintDocument checks one document and returns how many problems it printed.
func lintDocument(w io.Writer, path string, doc int, raw []byte) int {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(raw, &head); err != nil {
		fmt.Fprintf(w, "%s:%d: not valid YAML: %v\n", path, doc, err)
		return 1
	}
	gv, _ := schema.ParseGroupVersion(head.APIVersion)
	var validate func([]byte) (string, field.ErrorList, error)
	switch gv.Group {
	case v1alpha1.GroupVersion.Group:
		validate = validators[head.Kind]
	case flaggerv1beta1.GroupVersion.Group:
		validate = flaggerValidators[head.Kind]
	}
	if validate == nil {
		return 0
	}
	name, errs, err := validate(raw)
	if err != nil {
		fmt.Fprintf(w, "%s:%d: %s: %v\n", path, doc, head.Kind, err)
		return 1
	}
	for _, e := range errs {
		fmt.Fprintf(w, "%s:%d: %s/%s: %s: %s\n", path, doc, head.Kind, name, e.Field, e.ErrorBody())
	}
	lintWarnings(w, fmt.Sprintf("%s:%d: %s/%s", path, doc, head.Kind, name), head.Kind, raw)
	return len(errs)
}

// lintWarnings prints, after a Rollout's problems, the fields Vane stores but does not act on
// (v1alpha1.RolloutWarnings): warnings, not problems.
func lintWarnings(w io.Writer, where, kind string, raw []byte) {
	if kind != "Rollout" {
		return
	}
	var ro v1alpha1.Rollout
	if err := yaml.Unmarshal(raw, &ro); err != nil {
		return // checked strictly already
	}
	for _, warn := range v1alpha1.RolloutWarnings(&ro) {
		fmt.Fprintf(w, "%s: warning: %s\n", where, warn)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
