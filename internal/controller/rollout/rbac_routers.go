package rollout

// The objects of the Traefik, Ambassador and APISIX routers (internal/traffic/traefik,
// ambassador, apisix), read and written through Reconciler.TrafficClient, directly from the API
// server:
//   - Traefik: the weighted TraefikService (Traefik v3's group, and v2's for
//     --traefik-api-version traefik.containo.us/v1alpha1);
//   - Ambassador: the canary Mappings it creates, updates and deletes (getambassador.io
//     Mappings, or x.getambassador.io AmbassadorMappings);
//   - APISIX: the ApisixRoute it weighs, and those of the header routes it creates, updates
//     and deletes.
// +kubebuilder:rbac:groups=traefik.io;traefik.containo.us,resources=traefikservices,verbs=get;patch
// +kubebuilder:rbac:groups=getambassador.io,resources=mappings,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=x.getambassador.io,resources=ambassadormappings,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=apisix.apache.org,resources=apisixroutes,verbs=get;create;patch;delete
