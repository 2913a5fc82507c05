package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/argoproj/notifications-engine/pkg/api"
	"github.com/argoproj/notifications-engine/pkg/services"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/vanedev/vane/api/v1alpha1"
)

// Tool is `vane notifications`: it shows the triggers and templates a configuration has (the
// built-in catalog under the ConfigMap's keys) and tries them on a rollout.
type Tool struct {
	// Client reads the ConfigMap, the Secret, the rollout and its AnalysisRuns.
	Client client.Client
	// Namespace is the rollout's; ConfigNamespace the ConfigMap's and Secret's.
	Namespace, ConfigNamespace string
	// ConfigMapPath and SecretPath read them from YAML files instead ("" : from the cluster).
	ConfigMapPath, SecretPath string
	// Out and Err are the output streams.
	Out, Err io.Writer
}

// API builds the configuration: a missing ConfigMap or Secret is an empty one (the catalog
// alone, no service).
func (t *Tool) API(ctx context.Context) (api.API, error) {
	cm := &corev1.ConfigMap{}
	if err := t.load(ctx, t.ConfigMapPath, ConfigMapName, cm); err != nil {
		return nil, err
	}
	secret := &corev1.Secret{}
	if err := t.load(ctx, t.SecretPath, SecretName, secret); err != nil {
		return nil, err
	}
	for k, v := range secret.StringData {
		if secret.Data == nil {
			secret.Data = map[string][]byte{}
		}
		secret.Data[k] = []byte(v)
	}
	cm.Namespace = t.ConfigNamespace
	return NewAPI(ctx, cm, secret, t.Client)
}

func (t *Tool) load(ctx context.Context, path, name string, obj client.Object) error {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if err := yaml.Unmarshal(b, obj); err != nil {
			return fmt.Errorf("parsing %s from %s: %w", name, path, err)
		}
		return nil
	}
	err := t.Client.Get(ctx, client.ObjectKey{Namespace: t.ConfigNamespace, Name: name}, obj)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading %s/%s: %w", t.ConfigNamespace, name, err)
	}
	return nil
}

// rollout reads a rollout from the cluster, or from a YAML file of that name.
func (t *Tool) rollout(ctx context.Context, name string) (*v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if fi, err := os.Stat(name); err == nil && !fi.IsDir() {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("reading rollout file: %w", err)
		}
		if err := yaml.Unmarshal(b, ro); err != nil {
			return nil, fmt.Errorf("parsing rollout file %s: %w", name, err)
		}
		return ro, nil
	}
	if err := t.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: name}, ro); err != nil {
		return nil, fmt.Errorf("reading rollout %s/%s: %w", t.Namespace, name, err)
	}
	return ro, nil
}

// rolloutObject reads a rollout (see rollout) and returns it as templates and triggers see it.
func (t *Tool) rolloutObject(ctx context.Context, name string) (*v1alpha1.Rollout, map[string]any, error) {
	ro, err := t.rollout(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	obj, err := ObjectMap(ro)
	return ro, obj, err
}

// TemplateGet prints the templates (all, or the one named) as a table with a preview, their
// names, or JSON/YAML.
func (t *Tool) TemplateGet(ctx context.Context, name, output string) error {
	a, err := t.API(ctx)
	if err != nil {
		return err
	}
	items := map[string]services.Notification{}
	for n, tmpl := range a.GetConfig().Templates {
		if name == "" || n == name {
			items[n] = tmpl
		}
	}
	if name != "" && len(items) == 0 {
		return fmt.Errorf("no template %q (there are: %s)", name, strings.Join(sortedKeys(a.GetConfig().Templates), ", "))
	}
	return t.print(items, output, "NAME\tPREVIEW", func(n string) []string {
		tmpl := items[n]
		return []string{n + "\t" + tmpl.Preview()}
	})
}

// TemplateNotify renders a template for a rollout and sends it to each recipient
// (service:recipient; console:stdout prints it).
func (t *Tool) TemplateNotify(ctx context.Context, name, rollout string, recipients []string) error {
	a, err := t.API(ctx)
	if err != nil {
		return err
	}
	if _, ok := a.GetConfig().Templates[name]; !ok {
		return fmt.Errorf("no template %q (there are: %s)", name, strings.Join(sortedKeys(a.GetConfig().Templates), ", "))
	}
	a.AddNotificationService("console", services.NewConsoleService(t.Out))
	ro, obj, err := t.rolloutObject(ctx, rollout)
	if err != nil {
		return err
	}
	for _, r := range recipients {
		service, recipient, _ := strings.Cut(r, ":")
		if err := a.Send(obj, []string{name}, services.Destination{Service: service, Recipient: recipient}); err != nil {
			return fmt.Errorf("notifying %s: %w", r, err)
		}
		fmt.Fprintf(t.Err, "sent template %s for rollout %s to %s\n", name, ro.Name, r)
	}
	return nil
}

// TriggerGet prints the triggers (all, or the one named): their templates and conditions.
func (t *Tool) TriggerGet(ctx context.Context, name, output string) error {
	a, err := t.API(ctx)
	if err != nil {
		return err
	}
	items := map[string][]conditionView{}
	for n, conds := range a.GetConfig().Triggers {
		if name == "" || n == name {
			for _, c := range conds {
				items[n] = append(items[n], conditionView{When: c.When, OncePer: c.OncePer, Send: c.Send})
			}
		}
	}
	if name != "" && len(items) == 0 {
		return fmt.Errorf("no trigger %q (there are: %s)", name, strings.Join(sortedKeys(a.GetConfig().Triggers), ", "))
	}
	return t.print(items, output, "NAME\tTEMPLATE\tCONDITION", func(n string) []string {
		var rows []string
		for i, c := range items[n] {
			shown := n
			if i > 0 {
				shown = ""
			}
			rows = append(rows, shown+"\t"+strings.Join(c.Send, ", ")+"\t"+whenText(c.When))
		}
		return rows
	})
}

// TriggerRun evaluates a trigger's conditions on a rollout and prints each result; a
// condition without `when` fires on the event alone and shows true.
func (t *Tool) TriggerRun(ctx context.Context, trigger, rollout string) error {
	a, err := t.API(ctx)
	if err != nil {
		return err
	}
	conds, ok := a.GetConfig().Triggers[trigger]
	if !ok {
		return fmt.Errorf("no trigger %q (there are: %s)", trigger, strings.Join(sortedKeys(a.GetConfig().Triggers), ", "))
	}
	_, obj, err := t.rolloutObject(ctx, rollout)
	if err != nil {
		return err
	}
	results, err := runTrigger(a, trigger, obj)
	if err != nil {
		return fmt.Errorf("evaluating trigger %s: %w", trigger, err)
	}
	w := tabwriter.NewWriter(t.Out, 5, 0, 2, ' ', 0)
	fmt.Fprintln(w, "CONDITION\tRESULT")
	for i, res := range results {
		fmt.Fprintf(w, "%s\t%v\n", whenText(conds[i].When), Fires(conds, i, res))
	}
	return w.Flush()
}

// conditionView is a trigger condition as printed.
type conditionView struct {
	When    string   `json:"when,omitempty"`
	OncePer string   `json:"oncePer,omitempty"`
	Send    []string `json:"send"`
}

func whenText(when string) string {
	if when == "" {
		return "(on the event)"
	}
	return when
}

// print writes items as a table (wide), their names (name), json or yaml.
func (t *Tool) print(items any, output, header string, rows func(name string) []string) error {
	var names []string
	switch m := items.(type) {
	case map[string]services.Notification:
		names = sortedKeys(m)
	case map[string][]conditionView:
		names = sortedKeys(m)
	}
	switch output {
	case "", "wide":
		w := tabwriter.NewWriter(t.Out, 5, 0, 2, ' ', 0)
		fmt.Fprintln(w, header)
		for _, n := range names {
			for _, r := range rows(n) {
				fmt.Fprintln(w, r)
			}
		}
		return w.Flush()
	case "name":
		for _, n := range names {
			fmt.Fprintln(t.Out, n)
		}
		return nil
	case "json":
		b, err := json.MarshalIndent(items, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = fmt.Fprintln(t.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(items)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = t.Out.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q (wide, name, json, yaml)", output)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
