// Package notify sends notifications about Rollouts with Argo Rollouts' configuration: the
// argo-rollouts-notification-configmap and -secret, the
// notifications.argoproj.io/subscribe.<trigger>.<service> annotations, and the engine Argo
// itself uses (github.com/argoproj/notifications-engine). As in Argo, a notification is sent
// when an event is recorded on a Rollout whose reason names a subscribed trigger
// (RolloutCompleted: on-rollout-completed), once per event, and when the condition (`when`) of
// a subscribed trigger becomes true on a change of the Rollout. What was sent is recorded in
// the rollout's notified.notifications.argoproj.io annotation.
package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/api/v1alpha1"
)

// The controller reads the notification ConfigMap and Secret (in its namespace, or in every
// namespace with self-service) and records what it sent on the Rollout:
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=argoproj.io,resources=rollouts,verbs=get;patch
// +kubebuilder:rbac:groups=argoproj.io,resources=analysisruns,verbs=get;list;watch

// FailedReason is the reason of the Warning event recorded on a rollout when a notification
// cannot be sent. It never fires a trigger itself.
const FailedReason = "NotificationFailed"

// Metrics counts notifications: Sent and Failed per notification, with the event that fired
// it; Observe records how long an event's notifications took.
type Metrics interface {
	Sent(namespace, name, eventType, reason string)
	Failed(namespace, name, eventType, reason string)
	Observe(namespace, name string, seconds float64)
}

// Options configure a Notifier.
type Options struct {
	// Namespace holds the controller's ConfigMap and Secret.
	Namespace string
	// InstanceID is the controller's instance: the triggers with a condition are evaluated on
	// its Rollouts only (those labelled with it; "": the unlabelled ones).
	InstanceID string
	// SelfService also reads the ConfigMap and Secret of each rollout's own namespace.
	SelfService bool
	// Workers is the number of rollouts notified at once (default 2).
	Workers int
	// SendTimeout bounds one send to one destination (default 10s).
	SendTimeout time.Duration
	// Metrics counts notifications (nil: not counted).
	Metrics Metrics
}

// Notifier turns the events recorded on Rollouts into notifications. It is an
// EventObserver of the controllers, and a manager Runnable whose workers send them.
type Notifier struct {
	opts     Options
	client   client.Client // patches the notified annotation
	reader   client.Reader // reads the rollout's current annotation, uncached
	recorder record.EventRecorder
	source   *source

	queue   workqueue.TypedInterface[types.NamespacedName]
	mu      sync.Mutex
	pending map[types.NamespacedName][]event
	looks   map[types.NamespacedName]bool // rollouts changed since their triggers' conditions were evaluated
}

// event is one recorded event, with the rollout as it was when it was recorded.
type event struct {
	ro                         *v1alpha1.Rollout
	eventType, reason, message string
}

// New returns a Notifier; SetupWithManager connects it to the cluster.
func New(opts Options) *Notifier {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 10 * time.Second
	}
	return &Notifier{
		opts:    opts,
		queue:   workqueue.NewTyped[types.NamespacedName](),
		pending: map[types.NamespacedName][]event{},
		looks:   map[types.NamespacedName]bool{},
	}
}

// SetupWithManager gives the notifier the manager's clients and event recorder and adds it to
// the manager, whose leader runs its workers.
func (n *Notifier) SetupWithManager(mgr ctrl.Manager) error {
	if n.opts.Namespace == "" {
		return fmt.Errorf("notifications: no namespace for %s", ConfigMapName)
	}
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("notifications: creating a Kubernetes client: %w", err)
	}
	n.client, n.reader = mgr.GetClient(), mgr.GetAPIReader()
	n.recorder = mgr.GetEventRecorderFor("vane-notifications")
	n.source = newSource(kube, n.opts.Namespace, n.opts.SelfService, mgr.GetClient())
	rollouts, err := mgr.GetCache().GetInformer(context.Background(), &v1alpha1.Rollout{})
	if err != nil {
		return fmt.Errorf("notifications: watching Rollouts: %w", err)
	}
	_, err = rollouts.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.look(obj) },
		UpdateFunc: func(_, obj any) { n.look(obj) },
	})
	if err != nil {
		return fmt.Errorf("notifications: watching Rollouts: %w", err)
	}
	if err := mgr.Add(n); err != nil {
		return fmt.Errorf("notifications: adding to the manager: %w", err)
	}
	return nil
}

// NeedLeaderElection: only the leader, which records the events, sends notifications.
func (n *Notifier) NeedLeaderElection() bool { return true }

// ObserveEvent queues the notifications of an event recorded on a Rollout; it never blocks.
// Events on other kinds, the notifier's own failure events and the events of rollouts nothing
// can subscribe (mayNotify) are ignored.
func (n *Notifier) ObserveEvent(obj runtime.Object, eventType, reason, message string) {
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok || reason == FailedReason || !n.mayNotify(ro) {
		return
	}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	n.mu.Lock()
	n.pending[key] = append(n.pending[key], event{ro: ro.DeepCopy(), eventType: eventType, reason: reason, message: message})
	n.mu.Unlock()
	n.queue.Add(key)
}

// Start runs the workers until ctx ends, then sends what is still queued for at most the send
// timeout (a controller that is killed loses what it had queued).
func (n *Notifier) Start(ctx context.Context) error {
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithName("notifications"))
	if err := n.source.run(ctx); err != nil {
		return err
	}
	workCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	for range n.opts.Workers {
		wg.Go(func() {
			for n.work(workCtx) {
			}
		})
	}
	<-ctx.Done()
	drained := make(chan struct{})
	go func() {
		n.queue.ShutDownWithDrain()
		close(drained)
	}()
	timer := time.NewTimer(n.opts.SendTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		ctrl.LoggerFrom(ctx).Info("stopping with notifications still queued", "rollouts", n.queue.Len())
	}
	stop()
	n.queue.ShutDown()
	wg.Wait()
	return nil
}

// work sends the queued notifications of one rollout, in the order of their events, then
// evaluates its triggers' conditions if it changed; a rollout is handled by one worker at a
// time.
func (n *Notifier) work(ctx context.Context) bool {
	key, shutdown := n.queue.Get()
	if shutdown {
		return false
	}
	defer n.queue.Done(key)
	n.mu.Lock()
	batch, look := n.pending[key], n.looks[key]
	delete(n.pending, key)
	delete(n.looks, key)
	n.mu.Unlock()
	if len(batch) > 0 {
		n.deliver(ctx, key, batch)
	}
	if look {
		n.evaluate(ctx, key)
	}
	return true
}

// warn records a NotificationFailed Warning event on the rollout and counts the failure.
func (n *Notifier) warn(ctx context.Context, e event, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ctrl.LoggerFrom(ctx).Info("notification failed", "rollout", client.ObjectKeyFromObject(e.ro), "reason", e.reason, "error", msg)
	n.recorder.Event(e.ro, corev1.EventTypeWarning, FailedReason, msg)
	if n.opts.Metrics != nil {
		n.opts.Metrics.Failed(e.ro.Namespace, e.ro.Name, e.eventType, e.reason)
	}
}
