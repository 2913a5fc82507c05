package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/gate"
)

// canaryIcons and canaryColors give each phase of a Flagger Canary the icon and colour of
// the rollout status it resembles: done ✔, moving ◌, waiting for someone ॥, failed ✖.
var (
	canaryIcons = map[flaggerv1beta1.CanaryPhase]string{
		"Initializing": "◌", "Initialized": "✔", "Waiting": "॥", "Progressing": "◌", "WaitingPromotion": "॥",
		"Promoting": "◌", "Finalising": "◌", "Succeeded": "✔", "Failed": "✖", "Terminating": "◌", "Terminated": "•",
	}
	canaryColors = map[string]string{"✔": "32", "◌": "33", "॥": "36", "✖": "31", "•": "90"}
)

// noStatus is the phase shown for a Canary no controller has given a status yet.
const noStatus = "(no status yet)"

// CanaryPhaseIcon is the icon `get canary` shows before a Canary's phase ("?" for a phase it
// does not know, or none).
func CanaryPhaseIcon(phase flaggerv1beta1.CanaryPhase) string {
	if icon := canaryIcons[phase]; icon != "" {
		return icon
	}
	return icons[stUnknown]
}

// CanaryProvider is spec.provider, or "(controller default)" when empty: the controller's own
// provider setting applies then (Flagger's -mesh-provider flag).
func CanaryProvider(cn *flaggerv1beta1.Canary) string {
	if cn.Spec.Provider != "" {
		return cn.Spec.Provider
	}
	return "(controller default)"
}

// CanaryThreshold is analysis.threshold: the failed checks that roll back (Flagger's default 1).
func CanaryThreshold(cn *flaggerv1beta1.Canary) int32 {
	if a := cn.Spec.Analysis; a != nil && a.Threshold != nil && *a.Threshold > 0 {
		return *a.Threshold
	}
	return 1
}

// CanaryIterations is status.iterations, "x/N" when analysis.iterations is set.
func CanaryIterations(cn *flaggerv1beta1.Canary) string {
	if a := cn.Spec.Analysis; a != nil && a.Iterations != nil {
		return fmt.Sprintf("%d/%d", cn.Status.Iterations, *a.Iterations)
	}
	return fmt.Sprint(cn.Status.Iterations)
}

// PromotedCondition is the Canary's Promoted condition, nil when it has none.
func PromotedCondition(cn *flaggerv1beta1.Canary) *flaggerv1beta1.CanaryCondition {
	for i := range cn.Status.Conditions {
		if cn.Status.Conditions[i].Type == "Promoted" {
			return &cn.Status.Conditions[i]
		}
	}
	return nil
}

// WebhookType is a webhook's type; Flagger runs a webhook without one as a rollout hook.
func WebhookType(h flaggerv1beta1.CanaryWebhook) string {
	if h.Type == "" {
		return "rollout"
	}
	return h.Type
}

// RenderCanary writes `get canary`: the Canary's target, provider, status, weight, iterations
// and failed checks, then its workloads, Services, webhooks and gates.
func RenderCanary(w io.Writer, info *CanaryInfo, now time.Time, color bool) {
	p := painter{color: color}
	cn := info.Canary
	kv := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k+":", v) }
	kv("Name", cn.Name)
	kv("Namespace", cn.Namespace)
	kv("Target", cn.Spec.TargetRef.Kind+"/"+cn.Spec.TargetRef.Name)
	kv("Provider", CanaryProvider(cn))
	status := noStatus
	if ph := cn.Status.Phase; ph != "" {
		icon := CanaryPhaseIcon(ph)
		status = p.paint(icon+" "+string(ph), canaryColors[icon])
	}
	if cn.Spec.Suspend != nil && *cn.Spec.Suspend {
		status += " (suspended)"
	}
	kv("Status", status)
	if c := PromotedCondition(cn); c != nil && c.Message != "" {
		kv("Message", c.Message)
	}
	kv("Weight", canaryWeight(cn))
	kv("Iterations", CanaryIterations(cn))
	kv("FailedChecks", fmt.Sprintf("%d/%d", cn.Status.FailedChecks, CanaryThreshold(cn)))
	if t := cn.Status.LastTransitionTime; t != nil {
		kv("LastTransition", fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), duration.HumanDuration(now.Sub(t.Time))))
	}
	renderGates(kv, info)
	renderWorkloads(w, info.Workloads)
	renderServices(w, info.Services)
	renderWebhooks(w, cn)
}

// canaryWeight is status.canaryWeight with the analysis' step and maximum, when set.
func canaryWeight(cn *flaggerv1beta1.Canary) string {
	out := fmt.Sprint(cn.Status.CanaryWeight)
	a := cn.Spec.Analysis
	if a == nil {
		return out
	}
	var parts []string
	if a.StepWeight != nil {
		parts = append(parts, fmt.Sprintf("stepWeight %d", *a.StepWeight))
	}
	if len(a.StepWeights) > 0 {
		steps := make([]string, len(a.StepWeights))
		for i, sw := range a.StepWeights {
			steps[i] = fmt.Sprint(sw)
		}
		parts = append(parts, "stepWeights "+strings.Join(steps, ","))
	}
	if a.MaxWeight != nil {
		parts = append(parts, fmt.Sprintf("maxWeight %d", *a.MaxWeight))
	}
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// renderGates writes the Gates line: the confirmation gate and the rollback switch from the
// gate ConfigMap, or why they could not be read; nothing when the namespace has no ConfigMap.
func renderGates(kv func(k, v string), info *CanaryInfo) {
	state := func(open bool) string {
		if open {
			return "open"
		}
		return "closed"
	}
	switch {
	case info.GatesError != nil:
		kv("Gates", "cannot be read: "+info.GatesError.Error())
	case info.Gates != nil:
		kv("Gates", fmt.Sprintf("confirm %s, rollback %s (ConfigMap %s)", state(info.Gates.Confirm), state(info.Gates.Rollback), gate.ConfigMapName))
	}
}

// section writes a titled table after a blank line, its rows indented under the title.
func section(w io.Writer, title, header string, rows []string) {
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  "+header)
	for _, r := range rows {
		fmt.Fprintln(tw, "  "+r)
	}
	_ = tw.Flush()
}

func renderWorkloads(w io.Writer, workloads []WorkloadInfo) {
	if len(workloads) == 0 {
		return
	}
	var rows []string
	for _, wl := range workloads {
		if !wl.Found {
			rows = append(rows, fmt.Sprintf("%s\t%s\t(not found)", wl.Role, wl.Name))
			continue
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%d", wl.Role, wl.Name, wl.Desired, wl.Ready, wl.Updated, wl.Available))
	}
	section(w, workloads[0].Kind+"s", "ROLE\tNAME\tDESIRED\tREADY\tUPDATED\tAVAILABLE", rows)
}

func renderServices(w io.Writer, services []ServiceInfo) {
	var rows []string
	for _, s := range services {
		if s.Service == nil {
			rows = append(rows, fmt.Sprintf("%s\t%s\t(not found)", s.Role, s.Name))
			continue
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", s.Role, s.Name, s.Service.Spec.Type, orDash(s.Service.Spec.ClusterIP), servicePorts(s.Service)))
	}
	section(w, "Services", "ROLE\tNAME\tTYPE\tCLUSTER-IP\tPORTS", rows)
}

// servicePorts is kubectl's PORTS column: port/protocol, comma-separated.
func servicePorts(svc *corev1.Service) string {
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
	}
	return orDash(strings.Join(ports, ","))
}

func renderWebhooks(w io.Writer, cn *flaggerv1beta1.Canary) {
	var hooks []flaggerv1beta1.CanaryWebhook
	if cn.Spec.Analysis != nil {
		hooks = cn.Spec.Analysis.Webhooks
	}
	if len(hooks) == 0 {
		fmt.Fprintln(w, "\nWebhooks:        none")
		return
	}
	var rows []string
	for _, h := range hooks {
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s", h.Name, WebhookType(h), h.URL))
	}
	section(w, "Webhooks", "NAME\tTYPE\tURL", rows)
}

// renderCanaryList writes the table of `list canaries`: kubectl's columns for Canaries
// (NAME, STATUS, WEIGHT, LASTTRANSITIONTIME), NAMESPACE first with -A.
func renderCanaryList(w io.Writer, items []flaggerv1beta1.Canary, withNamespace bool) {
	writeTable(w, items, withNamespace, "canaries", "NAME\tSTATUS\tWEIGHT\tLASTTRANSITIONTIME", func(cn *flaggerv1beta1.Canary) string {
		last := "-"
		if t := cn.Status.LastTransitionTime; t != nil {
			last = t.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("%s\t%s\t%d\t%s", cn.Name, orDash(string(cn.Status.Phase)), cn.Status.CanaryWeight, last)
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
