package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/vanedev/vane/api/v1alpha1"
	"github.com/vanedev/vane/internal/strategy"
)

// Status words and their icons, as Argo's plugin shows them.
const (
	stHealthy     = "Healthy"
	stProgressing = "Progressing"
	stPaused      = "Paused"
	stDegraded    = "Degraded"
	stScaledDown  = "ScaledDown"
	stError       = "Error"
	stUnknown     = "Unknown"
)

var icons = map[string]string{
	stHealthy: "✔", stProgressing: "◌", stPaused: "॥", stDegraded: "✖", stScaledDown: "•", stError: "⚠", stUnknown: "?",
	"Running": "✔", "Succeeded": "✔", "Successful": "✔", "Pending": "◌", "Failed": "✖", "Inconclusive": "?",
	"Terminating": "◌", "Complete": "✔",
}

var colors = map[string]string{
	stHealthy: "32", "Running": "32", "Succeeded": "32", "Successful": "32", "Complete": "32",
	stProgressing: "33", "Pending": "33", "Terminating": "33",
	stPaused: "36", stDegraded: "31", "Failed": "31", stError: "31", "Inconclusive": "33", stScaledDown: "90",
}

// painter adds icons and, when enabled, ANSI colours.
type painter struct{ color bool }

func (p painter) status(s string) string {
	icon := icons[s]
	if icon == "" {
		icon = icons[stUnknown]
	}
	txt := icon + " " + s
	if c := colors[s]; p.color && c != "" {
		return "\x1b[" + c + "m" + txt + "\x1b[0m"
	}
	return txt
}

// RenderRollout writes the header and the tree of `get rollout`.
func RenderRollout(w io.Writer, info *RolloutInfo, now time.Time, color bool) {
	p := painter{color: color}
	ro := info.Rollout
	st := ro.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = stProgressing
	}
	kv := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k+":", v) }
	kv("Name", ro.Name)
	kv("Namespace", ro.Namespace)
	kv("Status", p.status(phase))
	if st.Message != "" {
		kv("Message", st.Message)
	}
	renderStrategy(w, info, kv)
	images := imagesWithRoles(info)
	for i, img := range images {
		if i == 0 {
			kv("Images", img)
		} else {
			fmt.Fprintf(w, "%-16s %s\n", "", img)
		}
	}
	fmt.Fprintln(w, "Replicas:")
	for _, r := range []struct {
		k string
		v int32
	}{{"Desired", ro.Spec.EffectiveReplicas()}, {"Current", st.Replicas}, {"Updated", st.UpdatedReplicas},
		{"Ready", st.ReadyReplicas}, {"Available", st.AvailableReplicas}} {
		fmt.Fprintf(w, "  %-14s %d\n", r.k+":", r.v)
	}
	fmt.Fprintln(w)
	renderTree(w, info, now, p)
}

func renderStrategy(w io.Writer, info *RolloutInfo, kv func(k, v string)) {
	ro := info.Rollout
	if c := ro.Spec.Strategy.Canary; c != nil {
		kv("Strategy", "Canary")
		idx := ptr.Deref(ro.Status.CurrentStepIndex, 0)
		weight := strategy.CurrentWeight(c.Steps, idx)
		if ro.Status.Abort {
			weight = 0
		}
		if len(c.Steps) > 0 {
			fmt.Fprintf(w, "  %-14s %d/%d\n", "Step:", idx, len(c.Steps))
		}
		fmt.Fprintf(w, "  %-14s %d\n", "SetWeight:", weight)
		fmt.Fprintf(w, "  %-14s %d\n", "ActualWeight:", actualWeight(info))
		return
	}
	kv("Strategy", "BlueGreen")
}

// actualWeight is the canary's share of the traffic (see ActualWeight).
func actualWeight(info *RolloutInfo) int32 {
	sets := make([]*appsv1.ReplicaSet, 0, len(info.ReplicaSets))
	for _, s := range info.ReplicaSets {
		sets = append(sets, s.RS)
	}
	return ActualWeight(info.Rollout, sets)
}

// ActualWeight is a canary's share of the traffic, as `get rollout` and the dashboard show it:
// what the router carries (recorded in status.canary.weights) with trafficRouting, else the
// share of the available pods of sets that run the current template.
func ActualWeight(ro *v1alpha1.Rollout, sets []*appsv1.ReplicaSet) int32 {
	if w := ro.Status.Canary.Weights; ro.Spec.Strategy.Canary.TrafficRouting != nil && w != nil {
		return w.Canary.Weight
	}
	var canary, total int32
	for _, rs := range sets {
		total += rs.Status.AvailableReplicas
		if rs.Labels[v1alpha1.PodTemplateHashLabel] == ro.Status.CurrentPodHash {
			canary += rs.Status.AvailableReplicas
		}
	}
	return strategy.ActualWeight(canary, total)
}

// roles names what a ReplicaSet is to the rollout (see Roles).
func roles(info *RolloutInfo, s ReplicaSetInfo) []string { return Roles(info.Rollout, s.RS) }

// Roles names what a ReplicaSet is to its rollout, as `get rollout` and the dashboard show it:
// stable and canary, or active and preview.
func Roles(ro *v1alpha1.Rollout, rs *appsv1.ReplicaSet) []string {
	st, h := ro.Status, rs.Labels[v1alpha1.PodTemplateHashLabel]
	var out []string
	if ro.Spec.Strategy.BlueGreen != nil {
		if h == st.BlueGreen.ActiveSelector {
			out = append(out, "active")
		}
		if h == st.BlueGreen.PreviewSelector && h != st.BlueGreen.ActiveSelector {
			out = append(out, "preview")
		}
		return out
	}
	if h == st.StableRS {
		out = append(out, "stable")
	}
	if h == st.CurrentPodHash && h != st.StableRS {
		out = append(out, "canary")
	}
	return out
}

func hashOf(s ReplicaSetInfo) string { return s.RS.Labels[v1alpha1.PodTemplateHashLabel] }

// imagesWithRoles lists each image of a ReplicaSet that has a role, with the role.
func imagesWithRoles(info *RolloutInfo) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range info.ReplicaSets {
		r := roles(info, s)
		if len(r) == 0 {
			continue
		}
		for _, c := range s.RS.Spec.Template.Spec.Containers {
			line := fmt.Sprintf("%s (%s)", c.Image, strings.Join(r, ", "))
			if !seen[line] {
				seen[line] = true
				out = append(out, line)
			}
		}
	}
	return out
}

// row is one line of the tree.
type row struct {
	prefix, icon, name, kind, status, age, info string
	// statusIcon, when set, replaces the status word's own icon: an Experiment's and its
	// AnalysisRuns' phases take Argo's analysis icons (Running is ◌ there, not a pod's ✔).
	statusIcon string
}

func renderTree(w io.Writer, info *RolloutInfo, now time.Time, p painter) {
	ro := info.Rollout
	phase := string(ro.Status.Phase)
	if phase == "" {
		phase = stProgressing
	}
	root := row{icon: "⟳", name: ro.Name, kind: "Rollout", status: phase, age: age(now, ro.CreationTimestamp.Time)}
	var children [][]row
	for _, s := range info.ReplicaSets {
		children = append(children, replicaSetRows(info, s, now))
	}
	for i := range info.Experiments {
		children = append(children, experimentTree(&info.Experiments[i], now))
	}
	for _, r := range info.Runs {
		children = append(children, analysisRunRows(r, now))
	}
	writeRows(w, tree(root, children), p)
}

// tree hangs each group of rows under root: the group's first row on a branch, the others
// indented under it.
func tree(root row, children [][]row) []row {
	rows := []row{root}
	for i, group := range children {
		last := i == len(children)-1
		for j, r := range group {
			switch {
			case j == 0 && last:
				r.prefix = "└──" + r.prefix
			case j == 0:
				r.prefix = "├──" + r.prefix
			case last:
				r.prefix = "   " + r.prefix
			default:
				r.prefix = "│  " + r.prefix
			}
			rows = append(rows, r)
		}
	}
	return rows
}

// replicaSetRows: "# revision:N", the ReplicaSet under it, its pods under that.
func replicaSetRows(info *RolloutInfo, s ReplicaSetInfo, now time.Time) []row {
	rs := s.RS
	inf := strings.Join(roles(info, s), ",")
	if d := scaleDownDelay(rs, now); d != "" {
		inf = strings.TrimPrefix(inf+","+d, ",")
	}
	rows := []row{
		{icon: "#", name: fmt.Sprintf("revision:%d", s.Revision)},
		{prefix: "└──", icon: "⧉", name: rs.Name, kind: "ReplicaSet", status: replicaSetStatus(rs), age: age(now, rs.CreationTimestamp.Time), info: inf},
	}
	return append(rows, podRows(s.Pods, "   ", now)...)
}

// replicaSetStatus is Healthy, ScaledDown or Progressing.
func replicaSetStatus(rs *appsv1.ReplicaSet) string {
	switch {
	case ptr.Deref(rs.Spec.Replicas, 0) == 0 && rs.Status.Replicas == 0:
		return stScaledDown
	case rs.Status.ReadyReplicas < ptr.Deref(rs.Spec.Replicas, 0) || rs.Status.Replicas != ptr.Deref(rs.Spec.Replicas, 0):
		return stProgressing
	}
	return stHealthy
}

// scaleDownDelay is "delay:<time left>" while a ReplicaSet's scale-down deadline is ahead.
func scaleDownDelay(rs *appsv1.ReplicaSet, now time.Time) string {
	if d := v1alpha1.ScaleDownDeadlineOf(rs.Annotations); d != "" {
		if t, err := time.Parse(time.RFC3339, d); err == nil && t.After(now) {
			return "delay:" + t.Sub(now).Round(time.Second).String()
		}
	}
	return ""
}

// podRows are the pods under a ReplicaSet, each on a branch after indent.
func podRows(pods []*corev1.Pod, indent string, now time.Time) []row {
	var rows []row
	for i, pod := range pods {
		branch := "├──"
		if i == len(pods)-1 {
			branch = "└──"
		}
		rows = append(rows, row{prefix: indent + branch, icon: "□", name: pod.Name, kind: "Pod", status: podStatus(pod),
			age: age(now, pod.CreationTimestamp.Time), info: podInfo(pod)})
	}
	return rows
}

func runRows(r AnalysisRunInfo, now time.Time) []row {
	run := r.Run
	phase := string(run.Status.Phase)
	if phase == "" {
		phase = "Pending"
	}
	var ok, failed, inconclusive, errs int32
	for _, m := range run.Status.MetricResults {
		ok, failed, inconclusive, errs = ok+m.Successful, failed+m.Failed, inconclusive+m.Inconclusive, errs+m.Error
	}
	var counts []string
	for _, c := range []struct {
		icon string
		n    int32
	}{{"✔", ok}, {"✖", failed}, {"?", inconclusive}, {"⚠", errs}} {
		if c.n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", c.icon, c.n))
		}
	}
	rows := []row{{icon: "α", name: run.Name, kind: "AnalysisRun", status: phase, age: age(now, run.CreationTimestamp.Time),
		info: strings.Join(counts, ",")}}
	for i, j := range r.Jobs {
		branch := "├──"
		if i == len(r.Jobs)-1 {
			branch = "└──"
		}
		st := stProgressing
		switch {
		case j.Status.Succeeded > 0:
			st = "Successful"
		case j.Status.Failed > 0:
			st = "Failed"
		}
		rows = append(rows, row{prefix: branch, icon: "⊞", name: j.Name, kind: "Job", status: st, age: age(now, j.CreationTimestamp.Time)})
	}
	return rows
}

func writeRows(w io.Writer, rows []row, p painter) {
	nameW, kindW, statusW := len("NAME"), len("KIND"), len("STATUS")
	for _, r := range rows {
		nameW = max(nameW, width(r.prefix+r.icon+" "+r.name))
		kindW = max(kindW, width(r.kind))
		if r.status != "" {
			statusW = max(statusW, width(p.rowPlain(r)))
		}
	}
	fmt.Fprintf(w, "%s  %s  %s  %s  %s\n", pad("NAME", nameW), pad("KIND", kindW), pad("STATUS", statusW), pad("AGE", 4), "INFO")
	for _, r := range rows {
		status := ""
		if r.status != "" {
			status = p.rowStatus(r)
		}
		line := fmt.Sprintf("%s  %s  %s  %s  %s", pad(r.prefix+r.icon+" "+r.name, nameW), pad(r.kind, kindW),
			padVisible(status, p.rowPlain(r), statusW, r.status != ""), pad(r.age, 4), r.info)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

func (painter) plain(s string) string {
	icon := icons[s]
	if icon == "" {
		icon = icons[stUnknown]
	}
	return icon + " " + s
}

// rowStatus and rowPlain are a row's status with its icon (statusIcon when set), coloured or
// not.
func (p painter) rowStatus(r row) string {
	if r.statusIcon == "" {
		return p.status(r.status)
	}
	return p.paint(r.statusIcon+" "+r.status, analysisColors[r.status])
}

func (p painter) rowPlain(r row) string {
	if r.statusIcon == "" {
		return p.plain(r.status)
	}
	return r.statusIcon + " " + r.status
}

func (p painter) paint(txt, color string) string {
	if p.color && color != "" {
		return "\x1b[" + color + "m" + txt + "\x1b[0m"
	}
	return txt
}

func padVisible(s, plain string, n int, has bool) string {
	if !has {
		return strings.Repeat(" ", n)
	}
	return s + strings.Repeat(" ", max(n-width(plain), 0))
}

func width(s string) int { return utf8.RuneCountInString(s) }

func pad(s string, n int) string { return s + strings.Repeat(" ", max(n-width(s), 0)) }

// age is kubectl's short age: 45s, 3m, 2h, 5d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
