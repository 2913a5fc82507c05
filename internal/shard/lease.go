package shard

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RingLabel marks the member Leases of the replicas; its value is the shard Leases' prefix.
const RingLabel = "vane.dev/shard-ring"

// leaseState is a Lease as this replica last wrote or read it.
type leaseState struct{ coordinationv1.Lease }

// errHeld: another replica holds the Lease and it has not expired.
var errHeld = errors.New("held by another replica")

// prefix is the shard Leases' prefix: vane-shard, or vane-shard-<instance id>.
func (r *Ring) prefix() string {
	if r.opts.InstanceID != "" {
		return "vane-shard-" + r.opts.InstanceID
	}
	return "vane-shard"
}

// memberName is this replica's member Lease: vane-member[-<instance id>]-<hash of identity>.
func (r *Ring) memberName() string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(r.opts.Identity))
	p := "vane-member"
	if r.opts.InstanceID != "" {
		p += "-" + r.opts.InstanceID
	}
	return fmt.Sprintf("%s-%016x", p, h.Sum64())
}

// expired: nobody renewed l within its duration before now.
func expired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return !now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// holdBy sets l's holder to this replica, renewed at now.
func (r *Ring) holdBy(l *coordinationv1.Lease, now time.Time) {
	if ptr.Deref(l.Spec.HolderIdentity, "") != r.opts.Identity {
		l.Spec.HolderIdentity = ptr.To(r.opts.Identity)
		l.Spec.AcquireTime = &metav1.MicroTime{Time: now}
		l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	}
	l.Spec.LeaseDurationSeconds = ptr.To(int32(r.opts.LeaseDuration / time.Second))
	l.Spec.RenewTime = &metav1.MicroTime{Time: now}
}

// takeLease makes this replica the holder of shard i's Lease if it is free, expired or its
// own. The write carries the resourceVersion read, so of two replicas only one wins.
func (r *Ring) takeLease(ctx context.Context, i int, now time.Time) (*leaseState, error) {
	l := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: r.opts.Namespace, Name: LeaseName(r.prefix(), i, r.opts.Shards)}
	err := r.client.Get(ctx, key, l)
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		r.holdBy(l, now)
		l.Spec.LeaseTransitions = ptr.To[int32](0)
		if err := r.client.Create(ctx, l); err != nil {
			return nil, fmt.Errorf("creating Lease %s: %w", key.Name, err)
		}
		return &leaseState{*l}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Lease %s: %w", key.Name, err)
	}
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	if holder != "" && holder != r.opts.Identity && !expired(l, now) {
		return nil, fmt.Errorf("Lease %s: %w (%s)", key.Name, errHeld, holder)
	}
	r.holdBy(l, now)
	if err := r.client.Update(ctx, l); err != nil {
		return nil, fmt.Errorf("taking Lease %s: %w", key.Name, err)
	}
	return &leaseState{*l}, nil
}

// renewLease writes a new renew time on a Lease this replica holds. lost reports that another
// replica took it (or it was deleted) since.
func (r *Ring) renewLease(ctx context.Context, l *leaseState, now time.Time) (_ *leaseState, lost bool, _ error) {
	next := l.DeepCopy()
	r.holdBy(next, now)
	err := r.client.Update(ctx, next)
	switch {
	case err == nil:
		return &leaseState{*next}, false, nil
	case apierrors.IsNotFound(err):
		return nil, true, fmt.Errorf("renewing Lease %s: %w", l.Name, err)
	case apierrors.IsConflict(err):
		// written since: still ours only if the holder is this replica (re-read and retried)
		cur := &coordinationv1.Lease{}
		if gerr := r.client.Get(ctx, client.ObjectKeyFromObject(next), cur); gerr != nil {
			return nil, apierrors.IsNotFound(gerr), fmt.Errorf("renewing Lease %s: %w", l.Name, gerr)
		}
		if ptr.Deref(cur.Spec.HolderIdentity, "") != r.opts.Identity {
			return nil, true, fmt.Errorf("renewing Lease %s: taken by %q", l.Name, ptr.Deref(cur.Spec.HolderIdentity, ""))
		}
		return r.renewLease(ctx, &leaseState{*cur}, now)
	default:
		return nil, false, fmt.Errorf("renewing Lease %s: %w", l.Name, err)
	}
}

// releaseLease leaves a Lease this replica holds without a holder, so that another replica
// may take it at once.
func (r *Ring) releaseLease(ctx context.Context, l *leaseState) error {
	next := l.DeepCopy()
	next.Spec.HolderIdentity = nil
	if err := r.client.Update(ctx, next); err != nil {
		return fmt.Errorf("releasing Lease %s: %w", l.Name, err)
	}
	return nil
}

// announce renews this replica's member Lease and returns the identities of the live members
// (this one included). Member Leases expired for long are deleted.
func (r *Ring) announce(ctx context.Context) ([]string, error) {
	now := r.opts.Clock.Now()
	l := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: r.opts.Namespace, Name: r.memberName()}
	err := r.client.Get(ctx, key, l)
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{RingLabel: r.prefix()}}}
		r.holdBy(l, now)
		err = r.client.Create(ctx, l)
	case err == nil:
		r.holdBy(l, now)
		err = r.client.Update(ctx, l)
	}
	if err != nil {
		return nil, fmt.Errorf("writing member Lease %s: %w", key.Name, err)
	}
	var list coordinationv1.LeaseList
	if err := r.client.List(ctx, &list, client.InNamespace(r.opts.Namespace), client.MatchingLabels{RingLabel: r.prefix()}); err != nil {
		return nil, fmt.Errorf("listing member Leases: %w", err)
	}
	members := []string{r.opts.Identity}
	for i := range list.Items {
		m := &list.Items[i]
		holder := ptr.Deref(m.Spec.HolderIdentity, "")
		switch {
		case holder == r.opts.Identity || holder == "":
		case !expired(m, now):
			members = append(members, holder)
		case expired(m, now.Add(-2*r.opts.LeaseDuration)):
			_ = r.client.Delete(ctx, m, client.Preconditions{ResourceVersion: &m.ResourceVersion}) // a replica gone for good
		}
	}
	return members, nil
}

// leave deletes this replica's member Lease.
func (r *Ring) leave(ctx context.Context) error {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: r.opts.Namespace, Name: r.memberName()}}
	if err := r.client.Delete(ctx, l); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting member Lease %s: %w", l.Name, err)
	}
	return nil
}
