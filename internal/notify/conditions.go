package notify

import (
	"context"
	"sort"

	nctrl "github.com/argoproj/notifications-engine/pkg/controller"
	"github.com/argoproj/notifications-engine/pkg/subscriptions"
	"github.com/argoproj/notifications-engine/pkg/triggers"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/vanedev/vane/api/v1alpha1"
)

// look queues a look at a rollout that was added or changed: its triggers with a condition are
// evaluated on its new state (evaluate). Rollouts of other controller instances are ignored.
func (n *Notifier) look(obj any) {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok || ro.Labels[v1alpha1.InstanceIDLabel] != n.opts.InstanceID || !n.mayNotify(ro) {
		return
	}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	n.mu.Lock()
	n.looks[key] = true
	n.mu.Unlock()
	n.queue.Add(key)
}

// evaluate sends the notifications of the rollout's subscribed triggers whose condition (`when`)
// holds now and did not when last evaluated, as the engine's resource controller does for
// Argo Rollouts: the engine's key of each condition and destination is kept in the notified
// annotation while the condition holds, and removed once it no longer does, so that it fires
// again the next time it becomes true. Conditions without a `when` fire on events only
// (deliver). Configuration errors are reported by the event path, not on each change.
func (n *Notifier) evaluate(ctx context.Context, key types.NamespacedName) {
	ro := &v1alpha1.Rollout{}
	if err := n.client.Get(ctx, key, ro); err != nil || ro.DeletionTimestamp != nil ||
		ro.Labels[v1alpha1.InstanceIDLabel] != n.opts.InstanceID {
		return
	}
	configs, _ := n.source.forNamespace(ctx, key.Namespace)
	plans := conditionDeliveries(configs, ro)
	if len(plans) == 0 {
		return
	}
	obj, err := ObjectMap(ro)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "converting the rollout for its triggers", "rollout", key)
		return
	}
	state, err := n.readState(ctx, key)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "reading the notified annotation; evaluating anyway", "rollout", key)
	}
	changed := false
	for _, d := range plans {
		changed = n.notifyCondition(ctx, ro, obj, d, state) || changed
	}
	if changed {
		n.persist(ctx, key, state)
	}
}

// notifyCondition evaluates one trigger with a condition for one destination and sends each
// condition that became true; it reports whether it changed state.
func (n *Notifier) notifyCondition(ctx context.Context, ro *v1alpha1.Rollout, obj map[string]any, d delivery, state nctrl.NotificationsState) bool {
	results, err := runTrigger(d.cfg.api, d.trigger, obj)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "evaluating a trigger", "rollout", ro.Name, "trigger", d.trigger)
		return false
	}
	conds := d.cfg.api.GetConfig().Triggers[d.trigger]
	changed := false
	for i, res := range results {
		if i >= len(conds) || conds[i].When == "" {
			continue
		}
		if !state.SetAlreadyNotified(d.cfg.selfService, d.cfg.namespace, d.trigger, res, d.dest, res.Triggered) {
			if res.Triggered { // still true, and sent when it became so
				ctrl.LoggerFrom(ctx).V(1).Info("condition already notified", "rollout", ro.Name, "trigger", d.trigger, "service", d.dest.Service)
			}
			continue
		}
		changed = true
		if !res.Triggered {
			continue // false again: it fires the next time it becomes true
		}
		e := event{ro: ro, eventType: corev1.EventTypeNormal, reason: d.trigger}
		if err := n.send(ctx, d.cfg.api, obj, res.Templates, d.dest); err != nil {
			n.warn(ctx, e, "trigger %s, service %s, recipient %s: %v", d.trigger, d.dest.Service, d.dest.Recipient, err)
			state.SetAlreadyNotified(d.cfg.selfService, d.cfg.namespace, d.trigger, res, d.dest, false) // tried again on the next change
			continue
		}
		if n.opts.Metrics != nil {
			n.opts.Metrics.Sent(ro.Namespace, ro.Name, e.eventType, e.reason)
		}
	}
	return changed
}

// conditionDeliveries lists the rollout's subscribed destinations (annotations and global
// subscriptions) of the triggers that have a condition with a `when`, each with the
// configuration that sends it (pick), in a stable order. A destination no configuration can
// serve is left out: the event path reports it when its event is recorded.
func conditionDeliveries(configs []config, ro *v1alpha1.Rollout) []delivery {
	var out []delivery
	seen := map[string]bool{}
	for _, c := range configs {
		cfg := c.api.GetConfig()
		byTrigger := cfg.GetGlobalDestinations(ro.Labels)
		byTrigger.Merge(subscriptions.NewAnnotations(ro.Annotations).GetDestinations(cfg.DefaultTriggers, cfg.ServiceDefaultTriggers))
		for trigger, dests := range byTrigger {
			for _, d := range dests {
				k := deliveryKey(delivery{trigger: trigger, dest: d})
				if seen[k] {
					continue
				}
				seen[k] = true
				if p, err := pick(configs, trigger, d); err == nil && hasCondition(p.api.GetConfig().Triggers[trigger]) {
					out = append(out, delivery{trigger: trigger, cfg: p, dest: d})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return deliveryKey(out[i]) < deliveryKey(out[j]) })
	return out
}

func deliveryKey(d delivery) string {
	return d.trigger + "\x00" + d.dest.Service + "\x00" + d.dest.Recipient
}

// hasCondition tells whether a trigger has a condition with a `when`.
func hasCondition(conds []triggers.Condition) bool {
	for _, c := range conds {
		if c.When != "" {
			return true
		}
	}
	return false
}
