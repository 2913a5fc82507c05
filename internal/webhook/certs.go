package webhook

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// backdate makes certificates valid a little before they are made, for clocks that lag.
const backdate = time.Hour

// keyPair is a certificate and its private key, PEM-encoded, with the parsed certificate.
type keyPair struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

// newCA makes a self-signed CA valid for validity from now.
func newCA(now time.Time, validity time.Duration) (keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "vane-webhook-ca", Organization: []string{"vane"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return sign(tmpl, nil)
}

// newServing makes a serving certificate for hosts (DNS names or IP addresses), signed by ca,
// valid for validity from now but never beyond the CA.
func newServing(ca keyPair, hosts []string, now time.Time, validity time.Duration) (keyPair, error) {
	if len(hosts) == 0 {
		return keyPair{}, errors.New("a serving certificate needs at least one host")
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{"vane"}},
		NotBefore:   now.Add(-backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(tmpl, &ca)
}

// sign creates a key and the certificate of tmpl, signed by parent (nil: self-signed).
func sign(tmpl *x509.Certificate, parent *keyPair) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating a key: %w", err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127)); err != nil {
		return keyPair{}, fmt.Errorf("generating a serial number: %w", err)
	}
	issuer, signer := tmpl, any(key)
	if parent != nil {
		pk, err := parsePrivateKey(parent.keyPEM)
		if err != nil {
			return keyPair{}, err
		}
		issuer, signer = parent.cert, pk
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing %s: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return keyPair{}, fmt.Errorf("encoding the key: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parsing the new certificate: %w", err)
	}
	return keyPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		cert:    cert,
	}, nil
}

func parsePrivateKey(keyPEM []byte) (any, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the private key: %w", err)
	}
	return k, nil
}

// parsePair reads a certificate (the first of the PEM text) and checks that the key matches.
func parsePair(certPEM, keyPEM []byte) (keyPair, error) {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return keyPair{}, fmt.Errorf("certificate and key: %w", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{certPEM: certPEM, keyPEM: keyPEM, cert: cert}, nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate: %w", err)
	}
	return cert, nil
}

// due tells whether a certificate made for validity should be replaced: a third of its
// validity or less is left, or more than validity (it was made for a longer one).
func due(cert *x509.Certificate, now time.Time, validity time.Duration) bool {
	if cert == nil {
		return true
	}
	left := cert.NotAfter.Sub(now)
	return left < validity/3 || left > validity
}

// signedBy tells whether leaf was signed by ca.
func signedBy(leaf, ca *x509.Certificate) bool {
	return leaf != nil && ca != nil && leaf.CheckSignatureFrom(ca) == nil
}

// coversHosts tells whether the certificate names exactly these hosts.
func coversHosts(cert *x509.Certificate, hosts []string) bool {
	var names []string
	names = append(names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	want := slices.Clone(hosts)
	for i, h := range want {
		if ip := net.ParseIP(h); ip != nil {
			want[i] = ip.String()
		}
	}
	slices.Sort(names)
	slices.Sort(want)
	return slices.Equal(names, want)
}

// bundle is the PEM text of the CA certificates, the current one first.
func bundle(cas ...[]byte) []byte {
	var b bytes.Buffer
	for _, c := range cas {
		if len(c) > 0 {
			b.Write(bytes.TrimSpace(c))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
