package webhook

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the Secret. tls.crt and tls.key are what every replica serves (and what
// cert-manager writes when it manages the Secret instead).
const (
	keyTLSCert = corev1.TLSCertKey
	keyTLSKey  = corev1.TLSPrivateKeyKey
	keyCACert  = "ca.crt"
	keyCAKey   = "ca.key"
	// keyPrevCA is the CA before the last rotation, still trusted until it expires.
	keyPrevCA = "ca-previous.crt"
)

// certState is what the Secret holds, parsed; a part that is missing or does not parse is
// zero.
type certState struct {
	ca, leaf keyPair
	prev     []byte
}

// rotator keeps the Secret's certificates fresh and the webhook configuration's caBundle
// trusting them. It runs on the leader only.
type rotator struct {
	o      Options
	reader client.Reader // uncached: the controller may not list or watch Secrets
	writer client.Client
	holder *holder
	log    logr.Logger
	now    func() time.Time

	// trustedSerial is the CA the webhook configuration has trusted since trustedAt, as
	// this rotator saw it; a serving certificate from a new CA waits CAGrace after that, so
	// that the API server uses the new caBundle before the certificate changes.
	trustedSerial string
	trustedAt     time.Time
}

// NeedLeaderElection: only the leader rotates.
func (r *rotator) NeedLeaderElection() bool { return true }

// Start checks the certificates at once, then every CheckInterval, until ctx ends. Errors are
// logged and retried at the next check.
func (r *rotator) Start(ctx context.Context) error {
	t := time.NewTicker(r.o.CheckInterval)
	defer t.Stop()
	for {
		if err := r.ensure(ctx); err != nil {
			r.log.Error(err, "webhook certificate check failed; retrying", "interval", r.o.CheckInterval.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ensure renews the CA when due (the old one stays in the caBundle), makes the caBundle trust
// the CA, renews the serving certificate when due, and hands it to the server.
func (r *rotator) ensure(ctx context.Context) error {
	now := r.now()
	secret, st, err := r.read(ctx)
	if err != nil {
		return err
	}
	if r.rotateCA(&st, now) {
		if secret, err = r.write(ctx, secret, st); err != nil {
			return err
		}
	}
	if err := r.patchCABundle(ctx, bundle(st.ca.certPEM, st.prev), now); err != nil {
		return err
	}
	if r.rotateLeaf(&st, now) {
		if _, err = r.write(ctx, secret, st); err != nil {
			return err
		}
	}
	if st.leaf.cert != nil {
		return r.holder.set(st.leaf)
	}
	return nil
}

func (r *rotator) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.o.SecretNamespace, Name: r.o.SecretName}
}

// read gets the Secret (a new one when missing) and parses it.
func (r *rotator) read(ctx context.Context) (*corev1.Secret, certState, error) {
	secret := &corev1.Secret{}
	err := r.reader.Get(ctx, r.key(), secret)
	if apierrors.IsNotFound(err) {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.o.SecretNamespace, Name: r.o.SecretName}}
	} else if err != nil {
		return nil, certState{}, fmt.Errorf("reading Secret %s: %w", r.key(), err)
	}
	var st certState
	if ca, err := parsePair(secret.Data[keyCACert], secret.Data[keyCAKey]); err == nil && ca.cert.IsCA {
		st.ca = ca
	}
	if leaf, err := parsePair(secret.Data[keyTLSCert], secret.Data[keyTLSKey]); err == nil {
		st.leaf = leaf
	}
	st.prev = secret.Data[keyPrevCA]
	return secret, st, nil
}

// rotateCA makes a new CA when there is none or a third of its validity is left; the old one
// becomes the previous CA. A previous CA that expired is dropped.
func (r *rotator) rotateCA(st *certState, now time.Time) bool {
	changed := false
	if prev, err := parseCert(st.prev); len(st.prev) > 0 && (err != nil || now.After(prev.NotAfter)) {
		st.prev, changed = nil, true
	}
	if !due(st.ca.cert, now, r.o.CAValidity) {
		return changed
	}
	ca, err := newCA(now, r.o.CAValidity)
	if err != nil {
		r.log.Error(err, "making a webhook CA")
		return changed
	}
	if st.ca.cert != nil && now.Before(st.ca.cert.NotAfter) {
		st.prev = st.ca.certPEM
	}
	r.log.Info("webhook CA rotated", "serial", ca.cert.SerialNumber.Text(16), "notAfter", ca.cert.NotAfter)
	st.ca = ca
	return true
}

// rotateLeaf makes a new serving certificate when there is none, it expired, a third of its
// validity is left, its hosts changed or another CA signed it. While the current CA is new to
// the caBundle, a still valid certificate is kept for CAGrace.
func (r *rotator) rotateLeaf(st *certState, now time.Time) bool {
	leaf := st.leaf.cert
	if st.ca.cert == nil {
		return false
	}
	if leaf != nil && !due(leaf, now, r.o.CertValidity) && coversHosts(leaf, r.o.Hosts) && signedBy(leaf, st.ca.cert) {
		return false
	}
	caTrusted := r.trustedSerial == st.ca.cert.SerialNumber.Text(16) && !now.Before(r.trustedAt.Add(r.o.CAGrace))
	if leaf != nil && now.Before(leaf.NotAfter) && !signedBy(leaf, st.ca.cert) && !caTrusted {
		return false // the CA is new: renewed once the API server has trusted it for CAGrace
	}
	next, err := newServing(st.ca, r.o.Hosts, now, r.o.CertValidity)
	if err != nil {
		r.log.Error(err, "making the webhook serving certificate")
		return false
	}
	r.log.Info("webhook serving certificate rotated", "serial", next.cert.SerialNumber.Text(16),
		"notAfter", next.cert.NotAfter, "hosts", r.o.Hosts)
	st.leaf = next
	return true
}

// write stores the state in the Secret (created, or updated with an optimistic lock) and
// returns the stored Secret.
func (r *rotator) write(ctx context.Context, secret *corev1.Secret, st certState) (*corev1.Secret, error) {
	s := secret.DeepCopy()
	s.Type = corev1.SecretTypeTLS
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels["app.kubernetes.io/part-of"] = "vane"
	s.Labels["app.kubernetes.io/component"] = "webhook"
	s.Data = map[string][]byte{keyTLSCert: st.leaf.certPEM, keyTLSKey: st.leaf.keyPEM,
		keyCACert: st.ca.certPEM, keyCAKey: st.ca.keyPEM}
	if len(st.prev) > 0 {
		s.Data[keyPrevCA] = st.prev
	}
	var err error
	if s.ResourceVersion == "" {
		err = r.writer.Create(ctx, s)
	} else {
		err = r.writer.Update(ctx, s)
	}
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s: %w", r.key(), err)
	}
	return s, nil
}

// patchCABundle sets every webhook's caBundle of the configuration to caBundle, and notes
// when the current CA became trusted. A missing configuration is not an error: it is patched
// once it exists.
func (r *rotator) patchCABundle(ctx context.Context, caBundle []byte, now time.Time) error {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := r.reader.Get(ctx, types.NamespacedName{Name: r.o.ConfigName}, cfg); apierrors.IsNotFound(err) {
		r.log.V(1).Info("no webhook configuration to patch yet", "name", r.o.ConfigName)
		return nil
	} else if err != nil {
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", r.o.ConfigName, err)
	}
	old := cfg.DeepCopy()
	changed := false
	for i := range cfg.Webhooks {
		if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, caBundle) {
			cfg.Webhooks[i].ClientConfig.CABundle, changed = caBundle, true
		}
	}
	if changed {
		if err := r.writer.Patch(ctx, cfg, client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("patching the caBundle of ValidatingWebhookConfiguration %s: %w", r.o.ConfigName, err)
		}
		r.log.Info("webhook caBundle patched", "name", r.o.ConfigName, "webhooks", len(cfg.Webhooks))
	}
	if len(cfg.Webhooks) > 0 {
		r.markTrusted(caBundle, now)
	}
	return nil
}

// markTrusted notes the time the bundle's first (current) CA was first seen trusted.
func (r *rotator) markTrusted(caBundle []byte, now time.Time) {
	ca, err := parseCert(caBundle)
	if err != nil {
		return
	}
	if serial := ca.SerialNumber.Text(16); serial != r.trustedSerial {
		r.trustedSerial, r.trustedAt = serial, now
	}
}
