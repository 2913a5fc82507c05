package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
)

// Severities of an event, and the filters of spec.analysis.alerts[].severity.
const (
	// SeverityInfo events are sent only to alerts of severity info (or no severity).
	SeverityInfo = "info"
	// SeverityWarn events are sent to alerts of severity info and warn.
	SeverityWarn = "warn"
	// SeverityError events are sent to every alert.
	SeverityError = "error"
)

// rank orders the severities; an alert gets the events ranked at or above its own.
var rank = map[string]int{SeverityInfo: 0, SeverityWarn: 1, SeverityError: 2}

// Defaults of an AlertProvider's username and channel, as Flagger sets them.
const (
	defaultUsername = "flagger"
	defaultChannel  = "general"
)

// Sender posts a Canary's alerts to the AlertProviders its spec.analysis.alerts name.
type Sender struct {
	// Reader reads AlertProviders and their Secrets.
	Reader client.Reader
	// Client sends the posts; nil uses a plain http.Client.
	Client *http.Client
	// ClusterName, when set, is shown first in every alert as the "Cluster" field.
	ClusterName string
}

// Alert sends text, with the severity of its event, to each alert of cd whose severity lets it
// through: an info alert gets every event, warn gets warn and error events, error gets error
// events; an alert with no severity counts as info (Flagger's documented default). With
// metadata, the message also shows the target, the failed checks threshold, the progress
// deadline and the traffic routing. A Canary without alerts sends nothing. Every alert is
// tried; the error joins the failures, each naming its provider as namespace/name.
func (s *Sender) Alert(ctx context.Context, cd *flaggerv1.Canary, text string, metadata bool, severity string) error {
	if cd.Spec.Analysis == nil || len(cd.Spec.Analysis.Alerts) == 0 {
		return nil
	}
	if s.Reader == nil {
		return errors.New("alert sender has no Reader")
	}
	if _, ok := rank[severity]; !ok {
		return fmt.Errorf("alert severity %q is not one of info, warn, error", severity)
	}
	m := Message{Canary: cd.Name, Namespace: cd.Namespace, Text: text, Severity: severity}
	if s.ClusterName != "" {
		m.Fields = append(m.Fields, Field{Name: "Cluster", Value: s.ClusterName})
	}
	if metadata {
		m.Fields = append(m.Fields, Metadata(cd)...)
	}
	var errs []error
	for _, a := range cd.Spec.Analysis.Alerts {
		send, err := wants(a.Severity, severity)
		if err == nil && send {
			err = s.send(ctx, cd, a, m)
		}
		if err != nil {
			ref := providerKey(cd, a)
			errs = append(errs, fmt.Errorf("alert %q, provider %s/%s: %w", a.Name, ref.Namespace, ref.Name, err))
		}
	}
	return errors.Join(errs...)
}

// wants tells whether an alert of severity filter gets an event of severity event.
func wants(filter, event string) (bool, error) {
	if filter == "" {
		filter = SeverityInfo
	}
	floor, ok := rank[filter]
	if !ok {
		return false, fmt.Errorf("severity %q is not one of info, warn, error", filter)
	}
	return rank[event] >= floor, nil
}

// providerKey is where an alert's AlertProvider is: providerRef.namespace, or the Canary's.
func providerKey(cd *flaggerv1.Canary, a flaggerv1.CanaryAlert) types.NamespacedName {
	ns := a.ProviderRef.Namespace
	if ns == "" {
		ns = cd.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: a.ProviderRef.Name}
}

// send reads an alert's provider (and its Secret) and posts m through it.
func (s *Sender) send(ctx context.Context, cd *flaggerv1.Canary, a flaggerv1.CanaryAlert, m Message) error {
	key := providerKey(cd, a)
	var p flaggerv1.AlertProvider
	if err := s.Reader.Get(ctx, key, &p); err != nil {
		return fmt.Errorf("reading the AlertProvider: %w", err)
	}
	o, err := s.options(ctx, &p)
	if err != nil {
		return err
	}
	n, err := New(p.Spec.Type, o)
	if err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if err := n.Post(ctx, m); err != nil {
		return err
	}
	log.FromContext(ctx).V(1).Info("alert sent", "canary", cd.Namespace+"/"+cd.Name,
		"alert", a.Name, "provider", key.String(), "type", p.Spec.Type, "severity", m.Severity)
	return nil
}

// options are a provider's notifier options: the address and token from spec.secretRef when
// set (its "address" key is then required), else spec.address; username and channel default
// to "flagger" and "general".
func (s *Sender) options(ctx context.Context, p *flaggerv1.AlertProvider) (Options, error) {
	o := Options{Address: p.Spec.Address, Proxy: p.Spec.Proxy, Username: p.Spec.Username,
		Channel: p.Spec.Channel, Client: s.Client}
	if o.Username == "" {
		o.Username = defaultUsername
	}
	if o.Channel == "" {
		o.Channel = defaultChannel
	}
	if p.Spec.SecretRef == nil {
		if o.Address == "" {
			return Options{}, errors.New("spec.address is empty and spec.secretRef is not set")
		}
		return o, nil
	}
	var sec corev1.Secret
	key := types.NamespacedName{Namespace: p.Namespace, Name: p.Spec.SecretRef.Name}
	if err := s.Reader.Get(ctx, key, &sec); err != nil {
		return Options{}, fmt.Errorf("reading spec.secretRef %s: %w", key.Name, err)
	}
	addr, ok := sec.Data["address"]
	if !ok {
		return Options{}, fmt.Errorf("spec.secretRef %s: the Secret has no \"address\" key", key.Name)
	}
	o.Address = string(addr)
	o.Token = string(sec.Data["token"])
	return o, nil
}

// Metadata returns the fields Flagger shows under its analysis alerts: the target, the failed
// checks threshold, the progress deadline and, when it can tell, the traffic routing.
func Metadata(cd *flaggerv1.Canary) []Field {
	threshold, deadline := int32(1), int32(600)
	if d := cd.Spec.ProgressDeadlineSeconds; d != nil {
		deadline = *d
	}
	a := cd.Spec.Analysis
	if a == nil {
		a = &flaggerv1.CanaryAnalysis{}
	}
	if a.Threshold != nil && *a.Threshold > 0 {
		threshold = *a.Threshold
	}
	t := cd.Spec.TargetRef
	fields := []Field{
		{Name: "Target", Value: fmt.Sprintf("%s/%s.%s", t.Kind, t.Name, cd.Namespace)},
		{Name: "Failed checks threshold", Value: strconv.Itoa(int(threshold))},
		{Name: "Progress deadline", Value: fmt.Sprintf("%ds", deadline)},
	}
	if routing := trafficRouting(a); routing != "" {
		fields = append(fields, Field{Name: "Traffic routing", Value: routing})
	}
	return fields
}

// trafficRouting describes how the analysis moves traffic, as Flagger words it; the max weight
// is the spec's value, 0 when unset, as Flagger shows it.
func trafficRouting(a *flaggerv1.CanaryAnalysis) string {
	value := func(p *int32) int32 {
		if p == nil {
			return 0
		}
		return *p
	}
	switch {
	case value(a.StepWeight) > 0:
		return fmt.Sprintf("Weight step: %d max: %d", *a.StepWeight, value(a.MaxWeight))
	case len(a.StepWeights) > 0:
		steps := make([]string, len(a.StepWeights))
		for i, w := range a.StepWeights {
			steps[i] = strconv.Itoa(int(w))
		}
		return fmt.Sprintf("Weight steps: %s max: %d", strings.Join(steps, ","), value(a.MaxWeight))
	case len(a.Match) > 0:
		return "A/B Testing"
	case value(a.Iterations) > 0:
		return "Blue/Green"
	}
	return ""
}
