package rollout

import "github.com/vanedev/vane/internal/traffic"

// WithTrafficOptions passes options to every router the reconciler builds (the API versions of
// Istio, SMI, Ambassador and Traefik: Argo's --istio-api-version and the like).
func WithTrafficOptions(opts ...traffic.Option) Option {
	return func(r *Reconciler) { r.trafficOptions = append(r.trafficOptions, opts...) }
}
