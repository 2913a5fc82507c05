package webhook

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"
)

// namespaceFile holds the pod's namespace in a pod.
const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Options configure the webhook of `vane controller`.
type Options struct {
	// BindAddress is the HTTPS listen address; empty or "0" turns the webhook off.
	BindAddress string
	// ConfigName is the ValidatingWebhookConfiguration whose caBundle is patched.
	ConfigName string
	// SecretName and SecretNamespace name the Secret of the certificates (default namespace:
	// the pod's).
	SecretName, SecretNamespace string
	// Service names the webhook's Service; with SecretNamespace it gives the default Hosts.
	Service string
	// Hosts are the serving certificate's DNS names and IP addresses (default
	// <Service>.<namespace>.svc and <Service>.<namespace>.svc.cluster.local).
	Hosts []string
	// ManageCerts: Vane creates and rotates the certificates and patches the caBundle; false
	// when cert-manager fills the Secret and injects the caBundle.
	ManageCerts bool
	// CAValidity and CertValidity are the lifetimes of the CA and of the serving
	// certificate; each is renewed when a third of it is left.
	CAValidity, CertValidity time.Duration
	// CheckInterval is how often the certificates are checked (and the Secret read again).
	CheckInterval time.Duration
	// CAGrace is how long a new CA is trusted by the caBundle before certificates it signed
	// are served.
	CAGrace time.Duration
}

// AddFlags registers the webhook's flags on fs and returns the options they fill.
func AddFlags(fs *pflag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.BindAddress, "webhook-bind-address", "0", "HTTPS address of the validating admission webhook (0 disables it)")
	fs.StringVar(&o.ConfigName, "webhook-configuration", "vane-validating-webhook", "ValidatingWebhookConfiguration whose caBundle the webhook keeps up to date")
	fs.StringVar(&o.SecretName, "webhook-secret", "vane-webhook-tls", "Secret holding the webhook's certificates")
	fs.StringVar(&o.SecretNamespace, "webhook-secret-namespace", "", "namespace of the webhook's Secret (default: the pod's)")
	fs.StringVar(&o.Service, "webhook-service", "vane-webhook", "the webhook's Service, for the certificate's default hosts")
	fs.StringSliceVar(&o.Hosts, "webhook-cert-hosts", nil, "DNS names and IPs of the serving certificate (default: <service>.<namespace>.svc[.cluster.local])")
	fs.BoolVar(&o.ManageCerts, "webhook-manage-certs", true, "create and rotate the certificates and patch the caBundle (false: cert-manager does)")
	fs.DurationVar(&o.CAValidity, "webhook-ca-validity", 5*365*24*time.Hour, "lifetime of the webhook's CA (renewed with a third left)")
	fs.DurationVar(&o.CertValidity, "webhook-cert-validity", 90*24*time.Hour, "lifetime of the serving certificate (renewed with a third left)")
	fs.DurationVar(&o.CheckInterval, "webhook-cert-check-interval", time.Minute, "how often the certificates are checked")
	fs.DurationVar(&o.CAGrace, "webhook-ca-grace", 10*time.Second, "how long a new CA is in the caBundle before certificates it signed are served")
	return o
}

// Enabled tells whether the webhook should run.
func (o Options) Enabled() bool { return o.BindAddress != "" && o.BindAddress != "0" }

// complete fills the defaults and checks the options.
func (o *Options) complete() error {
	if o.SecretNamespace == "" {
		b, err := os.ReadFile(namespaceFile)
		if err != nil {
			return errors.New("webhook: set --webhook-secret-namespace (no pod namespace outside a cluster)")
		}
		o.SecretNamespace = strings.TrimSpace(string(b))
	}
	if len(o.Hosts) == 0 {
		svc := o.Service + "." + o.SecretNamespace + ".svc"
		o.Hosts = []string{svc, svc + ".cluster.local"}
	}
	if o.CheckInterval <= 0 || o.CertValidity <= 0 || o.CAValidity < o.CertValidity {
		return fmt.Errorf("webhook: want a positive check interval and cert validity, and a CA validity >= the cert's (got %s, %s, %s)",
			o.CheckInterval, o.CertValidity, o.CAValidity)
	}
	if o.SecretName == "" || o.ConfigName == "" {
		return errors.New("webhook: --webhook-secret and --webhook-configuration must not be empty")
	}
	return nil
}

// Setup adds the webhook to the manager when it is enabled: its HTTPS server on every
// replica, a readiness check that it has a certificate, and with ManageCerts the rotator on
// the leader.
func Setup(mgr ctrl.Manager, o Options) error {
	if !o.Enabled() {
		return nil
	}
	if err := o.complete(); err != nil {
		return err
	}
	log := mgr.GetLogger().WithName("webhook")
	h := &holder{}
	if err := mgr.Add(&server{o: o, reader: mgr.GetAPIReader(), holder: h, log: log}); err != nil {
		return fmt.Errorf("webhook: adding the server: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook-certificate", h.ready); err != nil {
		return fmt.Errorf("webhook: adding the readiness check: %w", err)
	}
	if !o.ManageCerts {
		return nil
	}
	r := &rotator{o: o, reader: mgr.GetAPIReader(), writer: mgr.GetClient(), holder: h, log: log, now: time.Now}
	if err := mgr.Add(r); err != nil {
		return fmt.Errorf("webhook: adding the certificate rotator: %w", err)
	}
	return nil
}
