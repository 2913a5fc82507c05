// Package resolve makes in-cluster Service names reachable from a controller that runs outside
// the cluster (the local control plane has no cluster DNS). A host of the form
// <service>.<namespace>, <service>.<namespace>.svc or <service>.<namespace>.svc.cluster.local is
// dialled at that Service's ClusterIP, on the port of the URL; any other host is dialled as
// given. Inside a cluster, leave it off: the cluster's DNS does the same.
package resolve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Resolver maps Service host names to ClusterIPs with Reader.
type Resolver struct {
	// Reader reads Services (a cache or the API server).
	Reader client.Reader
	// Dialer dials the resolved address; the zero value is used when nil.
	Dialer *net.Dialer
}

// ServiceOf returns the Service a host names, if it has the form of an in-cluster name.
func ServiceOf(host string) (name, namespace string, ok bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	host = strings.TrimSuffix(host, ".cluster.local")
	host = strings.TrimSuffix(host, ".svc")
	parts := strings.Split(host, ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" || net.ParseIP(host) != nil {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Resolve returns addr ("host:port") with an in-cluster Service host replaced by its ClusterIP.
// Other hosts come back unchanged; a Service that is missing or has no ClusterIP is an error.
func (r *Resolver) Resolve(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, nil //nolint:nilerr // not host:port: leave it to the dialer to report
	}
	name, ns, ok := ServiceOf(host)
	if !ok {
		return addr, nil
	}
	var svc corev1.Service
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		return "", fmt.Errorf("resolving %s: Service %s/%s: %w", host, ns, name, err)
	}
	ip := svc.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone {
		return "", fmt.Errorf("resolving %s: Service %s/%s has no ClusterIP", host, ns, name)
	}
	return net.JoinHostPort(ip, port), nil
}

// DialContext dials addr after Resolve; it fits http.Transport.DialContext.
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	resolved, err := r.Resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	d := r.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	return d.DialContext(ctx, network, resolved)
}

// Transport returns a clone of base (http.DefaultTransport when nil) that dials through r.
// A nil r returns the clone unchanged.
func Transport(base *http.Transport, r *Resolver) *http.Transport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	if r != nil {
		t.DialContext = r.DialContext
	}
	return t
}
