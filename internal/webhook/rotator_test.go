package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// rotation drives a rotator on a fake clock against a fake API server.
type rotation struct {
	t   *testing.T
	c   client.Client
	r   *rotator
	now time.Time
}

func newRotation(t *testing.T) *rotation {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "vane-validating-webhook"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: "a.vane.dev"}, {Name: "b.vane.dev"},
		},
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(cfg).Build()
	x := &rotation{t: t, c: c, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := Options{ConfigName: "vane-validating-webhook", SecretName: "vane-webhook-tls", SecretNamespace: "vane-system",
		Hosts: []string{"vane-webhook.vane-system.svc", "127.0.0.1"}, CAValidity: 30 * time.Minute,
		CertValidity: 9 * time.Minute, CheckInterval: time.Second, CAGrace: 10 * time.Second}
	x.r = &rotator{o: o, reader: c, writer: c, holder: &holder{}, log: logr.Discard(), now: func() time.Time { return x.now }}
	return x
}

// at runs a check at t0+d and returns the Secret's CA, previous CA and leaf.
func (x *rotation) at(d time.Duration) (ca, leaf *x509.Certificate, prev []byte) {
	x.t.Helper()
	x.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
	if err := x.r.ensure(context.Background()); err != nil {
		x.t.Fatalf("at %s: %v", d, err)
	}
	s := &corev1.Secret{}
	if err := x.c.Get(context.Background(), client.ObjectKey{Namespace: "vane-system", Name: "vane-webhook-tls"}, s); err != nil {
		x.t.Fatal(err)
	}
	if s.Type != corev1.SecretTypeTLS {
		x.t.Errorf("Secret type %s, want %s", s.Type, corev1.SecretTypeTLS)
	}
	st := certState{}
	var err error
	if st.ca, err = parsePair(s.Data[keyCACert], s.Data[keyCAKey]); err != nil {
		x.t.Fatal(err)
	}
	if st.leaf, err = parsePair(s.Data[keyTLSCert], s.Data[keyTLSKey]); err != nil {
		x.t.Fatal(err)
	}
	if served, _ := x.r.holder.get(nil); served == nil || !bytes.Equal(served.Certificate[0], st.leaf.cert.Raw) {
		x.t.Errorf("at %s: the server does not serve the Secret's certificate", d)
	}
	return st.ca.cert, st.leaf.cert, s.Data[keyPrevCA]
}

// caBundle returns each webhook's caBundle.
func (x *rotation) caBundle() [][]byte {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := x.c.Get(context.Background(), client.ObjectKey{Name: "vane-validating-webhook"}, cfg); err != nil {
		x.t.Fatal(err)
	}
	var out [][]byte
	for _, w := range cfg.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func pemOf(c *x509.Certificate) []byte {
	return bundle(encodeCert(c))
}

func TestRotation(t *testing.T) {
	x := newRotation(t)
	ca0, leaf0, _ := x.at(0)
	if !signedBy(leaf0, ca0) || !coversHosts(leaf0, x.r.o.Hosts) {
		t.Fatalf("first leaf: signed by the CA %v, hosts %v %v", signedBy(leaf0, ca0), leaf0.DNSNames, leaf0.IPAddresses)
	}
	for i, b := range x.caBundle() {
		if !bytes.Equal(b, pemOf(ca0)) {
			t.Errorf("webhook %d caBundle is not the CA", i)
		}
	}
	if ca, leaf, _ := x.at(time.Minute); ca.SerialNumber.Cmp(ca0.SerialNumber) != 0 || leaf.SerialNumber.Cmp(leaf0.SerialNumber) != 0 {
		t.Error("rotated before anything was due")
	}
	ca, leaf1, _ := x.at(7 * time.Minute) // 2 of 9 minutes left
	if ca.SerialNumber.Cmp(ca0.SerialNumber) != 0 || leaf1.SerialNumber.Cmp(leaf0.SerialNumber) == 0 || !signedBy(leaf1, ca0) {
		t.Error("at 7m: want a new leaf from the same CA")
	}
	if _, leaf2, _ := x.at(13*time.Minute + 30*time.Second); leaf2.SerialNumber.Cmp(leaf1.SerialNumber) == 0 {
		t.Error("at 13m30s: want a new leaf") // valid until 22m30s
	}
	ca1, leaf, prev := x.at(20*time.Minute + time.Second) // a third of the CA left; the leaf is due too
	if ca1.SerialNumber.Cmp(ca0.SerialNumber) == 0 || !bytes.Equal(prev, pemOf(ca0)) {
		t.Fatal("at 20m01s: want a new CA and the old one as previous")
	}
	if !signedBy(leaf, ca0) {
		t.Error("at 20m01s: the leaf changed before the caBundle trusted the new CA for CAGrace")
	}
	if got := x.caBundle()[0]; !bytes.Equal(got, bundle(pemOf(ca1), pemOf(ca0))) {
		t.Errorf("at 20m01s: caBundle is not new CA + old CA")
	}
	if _, leaf, _ := x.at(20*time.Minute + 6*time.Second); !signedBy(leaf, ca0) {
		t.Error("at 20m06s: the leaf changed within CAGrace")
	}
	if _, leaf, _ := x.at(20*time.Minute + 12*time.Second); !signedBy(leaf, ca1) {
		t.Error("at 20m12s: want a leaf from the new CA")
	}
	if _, _, prev := x.at(31 * time.Minute); len(prev) != 0 || !bytes.Equal(x.caBundle()[1], pemOf(ca1)) {
		t.Error("at 31m: the expired CA is still kept or trusted")
	}
}

func TestRotationNewHosts(t *testing.T) {
	x := newRotation(t)
	_, leaf0, _ := x.at(0)
	x.r.o.Hosts = []string{"vane-webhook.other.svc"}
	if _, leaf, _ := x.at(time.Second); leaf.SerialNumber.Cmp(leaf0.SerialNumber) == 0 || leaf.DNSNames[0] != "vane-webhook.other.svc" {
		t.Error("the leaf was not re-issued for the new hosts")
	}
}

func TestServerLoadsTheSecret(t *testing.T) {
	x := newRotation(t)
	_, leaf, _ := x.at(0)
	s := &server{o: x.r.o, reader: x.c, holder: &holder{}, log: logr.Discard()}
	if err := s.holder.ready(nil); err == nil {
		t.Error("ready before a certificate was loaded")
	}
	if err := s.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.holder.get(nil); got == nil || !bytes.Equal(got.Certificate[0], leaf.Raw) {
		t.Error("the server does not serve the Secret's certificate")
	}
}

func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func TestRotationShorterValidity(t *testing.T) {
	x := newRotation(t)
	ca0, leaf0, _ := x.at(0)
	x.r.o.CAValidity, x.r.o.CertValidity, x.r.o.CAGrace = 15*time.Second, 6*time.Second, 2*time.Second
	ca, leaf, _ := x.at(time.Second)
	if ca.SerialNumber.Cmp(ca0.SerialNumber) == 0 || ca.NotAfter.After(x.now.Add(15*time.Second)) {
		t.Error("the CA made for 30m was kept after the validity became 15s")
	}
	if leaf.SerialNumber.Cmp(leaf0.SerialNumber) != 0 {
		t.Error("the leaf changed before the new CA was trusted for CAGrace")
	}
	if _, leaf, _ := x.at(4 * time.Second); !signedBy(leaf, ca) || leaf.NotAfter.After(x.now.Add(6*time.Second)) {
		t.Error("want a 6s leaf from the new CA once it is trusted")
	}
}
