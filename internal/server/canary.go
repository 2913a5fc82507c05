package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1beta1 "github.com/vanedev/vane/api/flagger/v1beta1"
	"github.com/vanedev/vane/internal/cli"
	"github.com/vanedev/vane/internal/gate"
)

// CanarySummary is one Flagger Canary as the list shows it (and the JSON API returns it).
type CanarySummary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Target is the target workload, Kind/name.
	Target string `json:"target"`
	// Provider is spec.provider, or "(controller default)".
	Provider string `json:"provider"`
	// Phase is status.phase (empty until a controller sets one).
	Phase string `json:"phase"`
	// Status is the rollout status the phase resembles (Healthy, Progressing, Paused or
	// Degraded; empty without a phase): the list's status filter and colours.
	Status string `json:"status"`
	Icon   string `json:"icon"`
	// Message is the Promoted condition's message.
	Message string `json:"message,omitempty"`
	Weight  int32  `json:"weight"`
	// MaxWeight is the weight the analysis promotes at (weighted analyses only).
	MaxWeight int32 `json:"maxWeight,omitempty"`
	// Iterations is status.iterations, of IterationsWanted when analysis.iterations is set.
	Iterations       int32 `json:"iterations"`
	IterationsWanted int32 `json:"iterationsWanted,omitempty"`
	// FailedChecks is status.failedChecks, of Threshold (analysis.threshold, default 1).
	FailedChecks       int32      `json:"failedChecks"`
	Threshold          int32      `json:"threshold"`
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	Suspended          bool       `json:"suspended,omitempty"`
}

// CanaryList is the answer of the canary list endpoints.
type CanaryList struct {
	Items []CanarySummary `json:"items"`
	// Namespaces are the namespaces listed (those the user may list canaries in).
	Namespaces []string `json:"namespaces"`
}

// CanaryDetail is one Canary as its page shows it.
type CanaryDetail struct {
	CanarySummary
	Interval    string        `json:"interval,omitempty"`
	StepWeight  int32         `json:"stepWeight,omitempty"`
	StepWeights []int32       `json:"stepWeights,omitempty"`
	Webhooks    []WebhookView `json:"webhooks"`
	// Gates is the canary's gates as vane gate keeps them; nil when not shown (GatesNote or
	// Hidden says why).
	Gates     *GatesView `json:"gates,omitempty"`
	GatesNote string     `json:"gatesNote,omitempty"`
	// Hidden names what the user may not read here (its section is empty).
	Hidden []string `json:"hidden,omitempty"`
}

// WebhookView is one webhook of the analysis.
type WebhookView struct {
	Name string `json:"name"`
	// Type is the webhook's type ("rollout" when the Canary sets none, as Flagger runs it).
	Type    string `json:"type"`
	URL     string `json:"url"`
	Timeout string `json:"timeout,omitempty"`
}

// Gate states, as GatesView shows them.
const (
	gateOpen   = "open"
	gateClosed = "closed"
)

// GatesView is a canary's confirmation gate and rollback switch (internal/gate): "open" or
// "closed", as /gate/check and /rollback/check answer.
type GatesView struct {
	// ConfigMap is whether the namespace has the gate ConfigMap (without it, every gate is
	// closed: none was ever set).
	ConfigMap bool   `json:"configMap"`
	Confirm   string `json:"confirm"`
	Rollback  string `json:"rollback"`
}

// PhaseText is the phase, or a note when there is none yet.
func (c CanarySummary) PhaseText() string {
	if c.Phase == "" {
		return "no status yet"
	}
	return c.Phase
}

// IterationsText is "x" or "x/N".
func (c CanarySummary) IterationsText() string {
	if c.IterationsWanted > 0 {
		return fmt.Sprintf("%d/%d", c.Iterations, c.IterationsWanted)
	}
	return fmt.Sprint(c.Iterations)
}

// Since is how long ago the last transition was ("" without one).
func (c CanarySummary) Since(now time.Time) string {
	if c.LastTransitionTime == nil {
		return ""
	}
	return age(now, *c.LastTransitionTime)
}

// canaryStatuses map a Canary's phases onto the rollout statuses the dashboard colours and
// filters by.
var canaryStatuses = map[flaggerv1beta1.CanaryPhase]string{
	"Initialized": stHealthy, "Succeeded": stHealthy,
	"Initializing": stProgressing, "Progressing": stProgressing, "Promoting": stProgressing, "Finalising": stProgressing,
	"Terminating": stProgressing, "Terminated": stProgressing,
	"Waiting": stPaused, "WaitingPromotion": stPaused,
	"Failed": stDegraded,
}

// summarizeCanary builds a Canary's summary.
func summarizeCanary(cn *flaggerv1beta1.Canary) CanarySummary {
	st := cn.Status
	s := CanarySummary{Namespace: cn.Namespace, Name: cn.Name, Target: cn.Spec.TargetRef.Kind + "/" + cn.Spec.TargetRef.Name,
		Provider: cli.CanaryProvider(cn), Phase: string(st.Phase), Status: canaryStatuses[st.Phase], Weight: st.CanaryWeight,
		Iterations: st.Iterations, FailedChecks: st.FailedChecks, Threshold: cli.CanaryThreshold(cn),
		Suspended: cn.Spec.Suspend != nil && *cn.Spec.Suspend}
	s.Icon = icons[s.Status]
	if s.Icon == "" {
		s.Icon = "?"
	}
	if c := cli.PromotedCondition(cn); c != nil {
		s.Message = c.Message
	}
	if t := st.LastTransitionTime; t != nil {
		s.LastTransitionTime = &t.Time
	}
	if a := cn.Spec.Analysis; a != nil {
		if a.Iterations != nil {
			s.IterationsWanted = *a.Iterations
		}
		s.MaxWeight = maxWeight(a)
	}
	return s
}

// maxWeight is the weight a weighted analysis promotes at, as Flagger computes it: the last
// of stepWeights (at most 100), else maxWeight, else 100; 0 for an analysis by iterations.
func maxWeight(a *flaggerv1beta1.CanaryAnalysis) int32 {
	switch {
	case len(a.StepWeights) > 0:
		return min(a.StepWeights[len(a.StepWeights)-1], 100)
	case a.StepWeight == nil:
		return 0
	case a.MaxWeight != nil && *a.MaxWeight > 0:
		return *a.MaxWeight
	}
	return 100
}

// canarySummaries lists the Canaries of ns (every namespace the user may list canaries in
// when ns is empty) from the cache. strict makes a namespace the user may not list canaries
// in an error; otherwise it is listed as empty (the list page, which shows rollouts too).
func (s *Server) canarySummaries(ctx context.Context, p *principal, ns string, strict bool) (*CanaryList, error) {
	if err := s.store.flagger.canariesError(); err != nil {
		return nil, err
	}
	var candidates []string
	if ns != "" {
		if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, ns) {
			return nil, fmt.Errorf("namespace %q: %w", ns, errNotServed)
		}
		if strict {
			if err := s.authz.require(ctx, p.id, access{ns, "list", "canaries"}); err != nil {
				return nil, err
			}
		}
		candidates = []string{ns}
	} else {
		all, err := s.namespaces(ctx)
		if err != nil {
			return nil, err
		}
		candidates = all
	}
	out := &CanaryList{Items: []CanarySummary{}, Namespaces: []string{}}
	for _, n := range candidates {
		if ok, err := s.authz.allowed(ctx, p.id, access{n, "list", "canaries"}); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		out.Namespaces = append(out.Namespaces, n)
		var list flaggerv1beta1.CanaryList
		if err := s.store.cache.List(ctx, &list, client.InNamespace(n), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing canaries in %s: %w", n, err)
		}
		for i := range list.Items {
			out.Items = append(out.Items, summarizeCanary(&list.Items[i]))
		}
	}
	slices.SortFunc(out.Items, func(a, b CanarySummary) int {
		if a.Namespace != b.Namespace {
			return cmpString(a.Namespace, b.Namespace)
		}
		return cmpString(a.Name, b.Name)
	})
	return out, nil
}

// canaryDetail reads one Canary for the user (get on canaries required) and its gates, when
// the user may get the gate ConfigMap.
func (s *Server) canaryDetail(ctx context.Context, p *principal, ns, name string) (*CanaryDetail, error) {
	if err := s.store.flagger.canariesError(); err != nil {
		return nil, err
	}
	if len(s.opts.Namespaces) > 0 && !slices.Contains(s.opts.Namespaces, ns) {
		return nil, fmt.Errorf("namespace %q: %w", ns, errNotServed)
	}
	if err := s.authz.require(ctx, p.id, access{ns, "get", "canaries"}); err != nil {
		return nil, err
	}
	cn := &flaggerv1beta1.Canary{}
	if err := s.store.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cn); err != nil {
		return nil, fmt.Errorf("canary %s/%s: %w", ns, name, err)
	}
	d := &CanaryDetail{CanarySummary: summarizeCanary(cn), Webhooks: []WebhookView{}}
	if a := cn.Spec.Analysis; a != nil {
		d.Interval, d.StepWeights = a.Interval, a.StepWeights
		if a.StepWeight != nil {
			d.StepWeight = *a.StepWeight
		}
		for _, h := range a.Webhooks {
			d.Webhooks = append(d.Webhooks, WebhookView{Name: h.Name, Type: cli.WebhookType(h), URL: h.URL, Timeout: h.Timeout})
		}
	}
	return d, s.readGates(ctx, p, d)
}

// readGates fills the detail's gates from the cache, or says why they are not shown.
func (s *Server) readGates(ctx context.Context, p *principal, d *CanaryDetail) error {
	if !s.store.flagger.gates {
		d.GatesNote = s.store.flagger.gatesWhy
		return nil
	}
	ok, err := s.authz.allowedNamed(ctx, p.id, access{d.Namespace, "get", "configmaps"}, gate.ConfigMapName)
	if err != nil {
		return err
	}
	if !ok {
		d.Hidden = append(d.Hidden, "configmaps/"+gate.ConfigMapName)
		return nil
	}
	gates, err := cli.ReadGates(ctx, s.cached, d.Namespace, d.Name)
	if err != nil {
		return err
	}
	state := func(open bool) string {
		if open {
			return gateOpen
		}
		return gateClosed
	}
	d.Gates = &GatesView{Confirm: gateClosed, Rollback: gateClosed}
	if gates != nil {
		d.Gates = &GatesView{ConfigMap: true, Confirm: state(gates.Confirm), Rollback: state(gates.Rollback)}
	}
	return nil
}

// canaryNamespaces are the namespaces that have a Canary, when Canaries are shown.
func (s *Server) canaryNamespaces(ctx context.Context) ([]string, error) {
	if !s.store.flagger.canaries {
		return nil, nil
	}
	var list flaggerv1beta1.CanaryList
	if err := s.store.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing canaries: %w", err)
	}
	var out []string
	for _, cn := range list.Items {
		out = append(out, cn.Namespace)
	}
	return out, nil
}

func (s *Server) apiCanaryList(w http.ResponseWriter, r *http.Request) {
	list, err := s.canarySummaries(r.Context(), principalFrom(r.Context()), r.PathValue("ns"), true)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) apiCanaryGet(w http.ResponseWriter, r *http.Request) {
	d, err := s.canaryDetail(r.Context(), principalFrom(r.Context()), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) canaryPage(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	pg := s.newPage(r, name)
	pg.Namespace, pg.Name, pg.Kind = ns, name, KindCanary
	d, err := s.canaryDetail(r.Context(), principalFrom(r.Context()), ns, name)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	pg.Canary = d
	s.render(w, r, "canary.html", "canary-body", pg)
}
