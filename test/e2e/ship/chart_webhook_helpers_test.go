package ship

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/testenv"
)

// webhookFailurePolicy is the failurePolicy of the manifests' one webhook.
func webhookFailurePolicy(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == "ValidatingWebhookConfiguration" {
			hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
			if len(hooks) == 1 {
				return fmt.Sprint(hooks[0].(map[string]any)["failurePolicy"])
			}
		}
	}
	t.Fatal("no ValidatingWebhookConfiguration with one webhook")
	return ""
}

// waitCABundle waits until the controller, with the install's permissions, created the
// webhook's Secret and patched its CA into the configuration's caBundle.
func waitCABundle(t *testing.T, env *testenv.Env, config, ns, secret string) {
	t.Helper()
	ctx := context.Background()
	var s corev1.Secret
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	waitFor(t, 30*time.Second, "the webhook's Secret and caBundle", func() bool {
		if env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: secret}, &s) != nil ||
			env.Client.Get(ctx, client.ObjectKey{Name: config}, &cfg) != nil {
			return false
		}
		return len(s.Data["ca.crt"]) > 0 && string(cfg.Webhooks[0].ClientConfig.CABundle) == string(s.Data["ca.crt"])
	})
	t.Logf("Secret %s/%s created and its CA patched into ValidatingWebhookConfiguration %s", ns, secret, config)
}

// writeTLSSecret writes a kubernetes.io/tls Secret with a self-signed certificate for host,
// as cert-manager would.
func writeTLSSecret(t *testing.T, env *testenv.Env, ns, name, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		"tls.crt": crt, "tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), "ca.crt": crt}}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}
