package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// holder is the serving certificate, swapped while the server runs.
type holder struct {
	mu     sync.RWMutex
	cert   *tls.Certificate
	serial string
}

// set replaces the certificate when it is another one.
func (h *holder) set(k keyPair) error {
	serial := k.cert.SerialNumber.Text(16)
	h.mu.RLock()
	same := h.serial == serial
	h.mu.RUnlock()
	if same {
		return nil
	}
	c, err := tls.X509KeyPair(k.certPEM, k.keyPEM)
	if err != nil {
		return fmt.Errorf("loading the serving certificate: %w", err)
	}
	h.mu.Lock()
	h.cert, h.serial = &c, serial
	h.mu.Unlock()
	return nil
}

// get is the server's tls.Config.GetCertificate.
func (h *holder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.cert == nil {
		return nil, errNoCertificate
	}
	return h.cert, nil
}

// ready is a readiness check: the server has a certificate to serve.
func (h *holder) ready(*http.Request) error {
	_, err := h.get(nil)
	return err
}

// server serves the webhook over HTTPS on every replica, with the certificate the Secret
// holds (read again every CheckInterval, so that a replica that is not the leader follows the
// leader's rotations, and cert-manager's).
type server struct {
	o      Options
	reader client.Reader
	holder *holder
	log    logr.Logger
}

// NeedLeaderElection: every replica serves.
func (s *server) NeedLeaderElection() bool { return false }

// Start listens until ctx ends.
func (s *server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.BindAddress)
	if err != nil {
		return fmt.Errorf("webhook: listening on %s: %w", s.o.BindAddress, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, Handler{})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{GetCertificate: s.holder.get, MinVersion: tls.VersionTLS12},
	}
	go s.follow(ctx)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("webhook serving", "address", ln.Addr().String(), "path", Path)
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// follow loads the Secret's certificate now and every CheckInterval.
func (s *server) follow(ctx context.Context) {
	t := time.NewTicker(s.o.CheckInterval)
	defer t.Stop()
	for {
		if err := s.load(ctx); err != nil {
			s.log.V(1).Info("webhook certificate not loaded", "reason", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *server) load(ctx context.Context) error {
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: s.o.SecretNamespace, Name: s.o.SecretName}
	if err := s.reader.Get(ctx, key, secret); err != nil {
		return fmt.Errorf("reading Secret %s: %w", key, err)
	}
	leaf, err := parsePair(secret.Data[keyTLSCert], secret.Data[keyTLSKey])
	if err != nil {
		return fmt.Errorf("Secret %s: %w", key, err)
	}
	return s.holder.set(leaf)
}
