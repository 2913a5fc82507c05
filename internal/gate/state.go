// Package gate is Vane's gate service, compatible with flagger-loadtester's gate API: the
// confirmation gates (/gate/check, /gate/open, /gate/close), the manual rollback switches
// (/rollback/check, /rollback/open, /rollback/close) and the constant /gate/approve and
// /gate/halt. Flagger's webhooks reach them with the canary's name and namespace in their JSON
// payload. The state lives in the cluster, in one ConfigMap per namespace (ConfigMapName), so that
// every replica of the service, a restarted one and `vane gate open|close` / `vane rollback` agree.
package gate

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConfigMapName is the ConfigMap, one in each canary's namespace, that holds the gates of that
// namespace's canaries: the key "gate.CANARY" or "rollback.CANARY" has the value "open" or
// "closed". A missing ConfigMap or key is a closed gate.
const ConfigMapName = "vane-gate"

// The values a gate's key takes in the ConfigMap.
const (
	valueOpen   = "open"
	valueClosed = "closed"
)

// conflictBackoff spaces the retries of a write that lost a race with another writer; the
// jitter spreads many concurrent writers apart.
var conflictBackoff = wait.Backoff{Steps: 12, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// Kind tells the confirmation gate of a canary from its rollback switch.
type Kind string

const (
	// Confirm is the gate /gate/check answers: open lets a confirm-* webhook pass.
	Confirm Kind = "gate"
	// Rollback is the switch /rollback/check answers: open makes a rollback webhook roll back.
	Rollback Kind = "rollback"
)

// Key names one gate: its kind and the canary it belongs to.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

// dataKey is the key of k in its namespace's ConfigMap.
func (k Key) dataKey() string { return string(k.Kind) + "." + k.Name }

// String is "gate.NAME.NAMESPACE" or "rollback.NAME.NAMESPACE", for logs and messages.
func (k Key) String() string { return string(k.Kind) + "." + k.Name + "." + k.Namespace }

// Store keeps the gates' state.
type Store interface {
	// IsOpen reports whether the gate is open; a gate never set is closed.
	IsOpen(ctx context.Context, k Key) (bool, error)
	// Set opens or closes the gate.
	Set(ctx context.Context, k Key, open bool) error
}

// ConfigMapStore is the Store kept in the cluster, in each namespace's ConfigMapName. Writes
// are read-modify-update with the ConfigMap's resourceVersion, retried on conflict, so that
// concurrent writers (replicas, the CLI) never lose each other's changes.
type ConfigMapStore struct {
	// Client reads and writes the ConfigMaps.
	Client client.Client
}

// IsOpen reads the gate from its namespace's ConfigMap; it never writes.
func (s *ConfigMapStore) IsOpen(ctx context.Context, k Key) (bool, error) {
	var cm corev1.ConfigMap
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: ConfigMapName}, &cm)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading ConfigMap %s/%s: %w", k.Namespace, ConfigMapName, err)
	}
	return cm.Data[k.dataKey()] == valueOpen, nil
}

// Set writes the gate into its namespace's ConfigMap, creating it when missing.
func (s *ConfigMapStore) Set(ctx context.Context, k Key, open bool) error {
	value := valueClosed
	if open {
		value = valueOpen
	}
	lost := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	if err := retry.OnError(conflictBackoff, lost, func() error { return s.set(ctx, k, value) }); err != nil {
		return fmt.Errorf("writing %s to ConfigMap %s/%s: %w", k, k.Namespace, ConfigMapName, err)
	}
	return nil
}

// set is one attempt of Set: an Update carries the resourceVersion it read, so a concurrent
// change makes it fail with a conflict instead of being overwritten.
func (s *ConfigMapStore) set(ctx context.Context, k Key, value string) error {
	var cm corev1.ConfigMap
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: ConfigMapName}, &cm)
	if apierrors.IsNotFound(err) {
		cm = corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: k.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "vane-gate"}},
			Data: map[string]string{k.dataKey(): value},
		}
		return s.Client.Create(ctx, &cm)
	}
	if err != nil {
		return err
	}
	if cm.Data[k.dataKey()] == value {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[k.dataKey()] = value
	return s.Client.Update(ctx, &cm)
}
