package keptn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StateLabel marks the ConfigMaps holding Vane's record of Keptn tasks (value "true").
const StateLabel = "vane.dev/keptn-state"

// RolloutAnnotation on a state ConfigMap names the Rollout its tasks act on.
const RolloutAnnotation = "vane.dev/keptn-rollout"

// keepDone is how many finished tasks a rollout's record keeps to recognise retried events.
const keepDone = 200

// Task states.
const (
	stateNew       = "new"       // recorded, not acted on yet
	statePromoting = "promoting" // release: about to promote from FromStep
	stateAwaiting  = "awaiting"  // acted on, waiting for the rollout (or the clock)
	stateFinishing = "finishing" // outcome known, .finished not sent yet
	stateDone      = "done"      // .finished sent
)

// Task is the record of one triggered event Vane acts on.
type Task struct {
	ID         string            `json:"id"`
	Seq        int64             `json:"seq"`
	Task       string            `json:"task"`
	Context    string            `json:"shkeptncontext"`
	Project    string            `json:"project"`
	Stage      string            `json:"stage"`
	Service    string            `json:"service"`
	Labels     map[string]string `json:"labels,omitempty"`
	Received   time.Time         `json:"received"`
	State      string            `json:"state"`
	Started    bool              `json:"started,omitempty"`
	Release    bool              `json:"release,omitempty"`    // release: promote (else nothing to do)
	FromStep   int32             `json:"fromStep,omitempty"`   // release: the step promoted from
	Image      string            `json:"image,omitempty"`      // deployment: the image to set
	Strategy   string            `json:"strategy,omitempty"`   // deployment: the deployment strategy
	Generation int64             `json:"generation,omitempty"` // deployment: the Rollout's generation to reach
	WaitUntil  *time.Time        `json:"waitUntil,omitempty"`  // test: end of the canary wait
	Result     string            `json:"result,omitempty"`
	Status     string            `json:"status,omitempty"`
	Message    string            `json:"message,omitempty"`
	URIs       []string          `json:"uris,omitempty"` // deployment: local URIs of its Service
}

// Target is the Rollout a task acts on.
type Target struct {
	Namespace string
	Name      string
}

// Store keeps the tasks in one ConfigMap per rollout, written with optimistic concurrency.
type Store struct {
	Client client.Client
}

func cmName(rollout string) string { return "vane-keptn-" + rollout }

func taskKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "t-" + hex.EncodeToString(sum[:10])
}

// ErrNamespaceMissing is returned by Add when the rollout's namespace does not exist.
var ErrNamespaceMissing = errors.New("namespace does not exist")

// Add records t for target unless a task with its id is recorded already (added false).
func (s *Store) Add(ctx context.Context, target Target, t Task) (added bool, err error) {
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		added = false
		cm, err := s.get(ctx, target)
		if err != nil {
			return err
		}
		if _, ok := cm.Data[taskKey(t.ID)]; ok {
			return nil
		}
		tasks, err := decode(cm)
		if err != nil {
			return err
		}
		for _, old := range tasks {
			t.Seq = max(t.Seq, old.Seq+1)
		}
		if err := put(cm, &t); err != nil {
			return err
		}
		prune(cm, tasks)
		added = true
		return s.write(ctx, cm)
	})
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("%w: %s", ErrNamespaceMissing, target.Namespace)
	}
	return added, err
}

// Update applies change to the recorded task id, re-reading on conflicts.
func (s *Store) Update(ctx context.Context, target Target, id string, change func(*Task)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := s.get(ctx, target)
		if err != nil {
			return err
		}
		raw, ok := cm.Data[taskKey(id)]
		if !ok {
			return fmt.Errorf("task %s of rollout %s/%s: not recorded", id, target.Namespace, target.Name)
		}
		var t Task
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return fmt.Errorf("task %s: %w", id, err)
		}
		change(&t)
		if err := put(cm, &t); err != nil {
			return err
		}
		return s.write(ctx, cm)
	})
}

// Record is one rollout's recorded tasks, oldest first.
type Record struct {
	Target Target
	Tasks  []Task
}

// List returns every rollout's record in namespaces (every namespace when empty).
func (s *Store) List(ctx context.Context, namespaces []string) ([]Record, error) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	var out []Record
	for _, ns := range namespaces {
		var list corev1.ConfigMapList
		if err := s.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{StateLabel: "true"}); err != nil {
			return nil, fmt.Errorf("listing Keptn task records: %w", err)
		}
		for i := range list.Items {
			cm := &list.Items[i]
			tasks, err := decode(cm)
			if err != nil {
				return nil, err
			}
			out = append(out, Record{Target: Target{Namespace: cm.Namespace, Name: cm.Annotations[RolloutAnnotation]}, Tasks: tasks})
		}
	}
	return out, nil
}

// get returns the rollout's ConfigMap, a new one (no resourceVersion) when there is none.
func (s *Store) get(ctx context.Context, target Target) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{}
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: target.Namespace, Name: cmName(target.Name)}, cm)
	if apierrors.IsNotFound(err) {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: target.Namespace, Name: cmName(target.Name),
			Labels:      map[string]string{StateLabel: "true"},
			Annotations: map[string]string{RolloutAnnotation: target.Name},
		}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Keptn task record of %s/%s: %w", target.Namespace, target.Name, err)
	}
	return cm, nil
}

// write creates the ConfigMap or updates it at the resourceVersion it was read at.
func (s *Store) write(ctx context.Context, cm *corev1.ConfigMap) error {
	if cm.ResourceVersion == "" {
		err := s.Client.Create(ctx, cm)
		if apierrors.IsAlreadyExists(err) { // created meanwhile: read again
			return apierrors.NewConflict(corev1.Resource("configmaps"), cm.Name, err)
		}
		return err
	}
	return s.Client.Update(ctx, cm)
}

func put(cm *corev1.ConfigMap, t *Task) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.ID, err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[taskKey(t.ID)] = string(b)
	return nil
}

// decode returns the ConfigMap's tasks, oldest first.
func decode(cm *corev1.ConfigMap) ([]Task, error) {
	tasks := make([]Task, 0, len(cm.Data))
	for k, raw := range cm.Data {
		var t Task
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s key %s: %w", cm.Namespace, cm.Name, k, err)
		}
		tasks = append(tasks, t)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Seq < tasks[j].Seq })
	return tasks, nil
}

// prune drops the oldest finished tasks beyond keepDone.
func prune(cm *corev1.ConfigMap, tasks []Task) {
	done := 0
	for i := len(tasks) - 1; i >= 0; i-- {
		if tasks[i].State != stateDone {
			continue
		}
		if done++; done > keepDone {
			delete(cm.Data, taskKey(tasks[i].ID))
		}
	}
}
