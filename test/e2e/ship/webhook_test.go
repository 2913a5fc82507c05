package ship

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vanedev/vane/internal/localcluster"
	"github.com/vanedev/vane/internal/testenv"
	"github.com/vanedev/vane/internal/testenv/vaneproc"
)

// Rollouts kubectl applies in the webhook test.
const (
	invalidRollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: %s, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.example/web:1}]}
  strategy:
    canary:
      steps: [{setWeight: %d}]
`
	// what kubectl prints when the webhook refuses setWeight 150: Vane's 422 Invalid status,
	// with its causes (kubectl prints it as it prints the API server's own validation)
	refusal = `The Rollout "%s" is invalid: spec.strategy.steps[0].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100`
)

// TestWebhook registers install.yaml's ValidatingWebhookConfiguration with the local API
// server, its clientConfig pointed at the controller's webhook on 127.0.0.1 (a URL: kwok's
// pods serve nothing). kubectl apply of an invalid Rollout is refused with Vane's message and
// field path, a valid one passes; the CA and the serving certificate are rotated while it
// runs (validities of seconds) and every apply in between is still checked; with the
// controller stopped and failurePolicy Ignore, apply still works (and with Fail, it does not).
func TestWebhook(t *testing.T) {
	env := testenv.Get(t)
	objs := readManifests(t, generateManifests(t, "vane-system"), "install.yaml")
	addr := vaneproc.FreeAddr(t)
	cfg := find(t, objs, "ValidatingWebhookConfiguration", "vane-validating-webhook")
	pointAt(t, cfg, "https://"+addr+"/validate")
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cfg.DeepCopy()) })
	applyServerSide(t, env, "install.yaml", objs)
	_, args := deploymentArgs(t, objs)
	p := startController(t, hostBinary(t), args, serviceAccountKubeconfig(t, env, "vane-system", "vane-controller"),
		"--webhook-bind-address="+addr, "--webhook-cert-hosts=127.0.0.1", "--webhook-cert-validity=6s",
		"--webhook-ca-validity=15s", "--webhook-cert-check-interval=250ms", "--webhook-ca-grace=2s")
	ns := env.Namespace(t)
	k := &kubectl{t: t, env: env, ns: ns}

	waitFor(t, 30*time.Second, "the webhook refuses an invalid Rollout", func() bool {
		_, err := k.apply(fmt.Sprintf(invalidRollout, "probe", ns, 150), "--dry-run=server")
		return err != nil
	})
	out, err := k.apply(fmt.Sprintf(invalidRollout, "bad", ns, 150))
	if err == nil || !strings.Contains(out, fmt.Sprintf(refusal, "bad")) {
		t.Fatalf("kubectl apply of an invalid Rollout: err %v, output:\n%s\nwant: %s", err, out, fmt.Sprintf(refusal, "bad"))
	}
	t.Logf("kubectl apply (invalid): %s", strings.TrimSpace(out))
	if out, err := k.apply(fmt.Sprintf(invalidRollout, "good", ns, 20)); err != nil {
		t.Fatalf("kubectl apply of a valid Rollout: %v\n%s", err, out)
	}

	checkRotation(t, env, k, p.webhook)

	p.stop()
	if out, err := k.apply(fmt.Sprintf(invalidRollout, "while-down", ns, 20)); err != nil {
		t.Errorf("webhook down, failurePolicy Ignore: kubectl apply failed: %v\n%s", err, out)
	}
	// the refusals above were the webhook's: without it the API server takes the same Rollout
	if out, err := k.apply(fmt.Sprintf(invalidRollout, "bad", ns, 150), "--dry-run=server"); err != nil {
		t.Errorf("webhook down, failurePolicy Ignore: the invalid Rollout was refused without the webhook: %v\n%s", err, out)
	}
	setFailurePolicy(t, env, admissionregistrationv1.Fail)
	defer setFailurePolicy(t, env, admissionregistrationv1.Ignore)
	waitFor(t, 30*time.Second, "failurePolicy Fail refuses while the webhook is down", func() bool {
		out, err := k.apply(fmt.Sprintf(invalidRollout, "while-down-fail", ns, 20), "--dry-run=server")
		return err != nil && strings.Contains(out, `failed calling webhook "validate.vane.dev"`)
	})
}

// checkRotation waits until the CA was replaced and the webhook serves a certificate the new
// CA signed, while applying an invalid Rollout again and again (server-side dry run): every one
// must be refused by the webhook (with failurePolicy Ignore, a failed TLS handshake would let
// it through). The caBundle must have held both CAs meanwhile.
func checkRotation(t *testing.T, env *testenv.Env, k *kubectl, addr string) {
	t.Helper()
	ca0, leaf0 := secretCA(t, env), served(t, addr)
	deadline := time.Now().Add(60 * time.Second)
	checks, leaves, maxBundle := 0, map[string]bool{}, 0
	for {
		out, err := k.apply(fmt.Sprintf(invalidRollout, "rotating", k.ns, 150), "--dry-run=server")
		checks++
		if err == nil || !strings.Contains(out, fmt.Sprintf(refusal, "rotating")) {
			t.Fatalf("during rotation, check %d: the invalid Rollout was not refused by the webhook: %v\n%s", checks, err, out)
		}
		ca, leaf := secretCA(t, env), served(t, addr)
		leaves[leaf.SerialNumber.Text(16)] = true
		maxBundle = max(maxBundle, caBundleSize(t, env))
		if ca.SerialNumber.Cmp(ca0.SerialNumber) != 0 && leaf.CheckSignatureFrom(ca) == nil && maxBundle == 2 {
			t.Logf("CA %x -> %x; %d serving certificates seen, from %x to %x (signed by the new CA); the caBundle held both CAs; %d applies refused meanwhile",
				ca0.SerialNumber, ca.SerialNumber, len(leaves), leaf0.SerialNumber, leaf.SerialNumber, checks)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no full rotation within 60s: CA %x -> %x, %d serving certificates seen, caBundle up to %d CAs",
				ca0.SerialNumber, ca.SerialNumber, len(leaves), maxBundle)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// secretCA is the CA in the webhook's Secret.
func secretCA(t *testing.T, env *testenv.Env) *x509.Certificate {
	t.Helper()
	s := &corev1.Secret{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "vane-system", Name: "vane-webhook-tls"}, s); err != nil {
		t.Fatal(err)
	}
	c, err := parseCertPEM(s.Data["ca.crt"])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// served is the certificate the webhook serves (read only: not verified).
func served(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reads the certificate only
	if err != nil {
		t.Fatalf("connecting to the webhook: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// caBundleSize counts the CA certificates in the webhook configuration's caBundle.
func caBundleSize(t *testing.T, env *testenv.Env) int {
	t.Helper()
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "vane-validating-webhook"}, cfg); err != nil {
		t.Fatal(err)
	}
	return bytes.Count(cfg.Webhooks[0].ClientConfig.CABundle, []byte("BEGIN CERTIFICATE"))
}

// pointAt replaces the webhooks' Service with a URL.
func pointAt(t *testing.T, cfg *unstructured.Unstructured, url string) {
	t.Helper()
	hooks, _, _ := unstructured.NestedSlice(cfg.Object, "webhooks")
	for _, h := range hooks {
		h.(map[string]any)["clientConfig"] = map[string]any{"url": url}
	}
	if err := unstructured.SetNestedSlice(cfg.Object, hooks, "webhooks"); err != nil {
		t.Fatal(err)
	}
}

// setFailurePolicy switches the webhook's failurePolicy (the documented switch).
func setFailurePolicy(t *testing.T, env *testenv.Env, p admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "vane-validating-webhook"}, cfg); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cfg.DeepCopy())
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].FailurePolicy = &p
	}
	if err := env.Client.Patch(context.Background(), cfg, patch); err != nil {
		t.Fatal(err)
	}
}

// kubectl runs the local cluster's kubectl as the admin.
type kubectl struct {
	t   *testing.T
	env *testenv.Env
	ns  string
}

// apply pipes manifest to kubectl apply -f - and returns its combined output.
func (k *kubectl) apply(manifest string, flags ...string) (string, error) {
	k.t.Helper()
	bin, err := localcluster.DefaultBinDir(k.env.RepoRoot)
	if err != nil {
		k.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", k.env.Kubeconfig, "apply", "-f", "-"}, flags...)...)
	cmd.Stdin = strings.NewReader(manifest)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.env.Kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for: %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
