package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/argoproj/notifications-engine/pkg/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// config is one notification configuration that applies to a rollout: the controller
// namespace's, or (self-service) the rollout namespace's.
type config struct {
	namespace   string
	selfService bool
	api         api.API
}

// source watches the notification ConfigMaps and Secrets (by name, in the controller's
// namespace or, with self-service, in every namespace) and builds each namespace's API once
// per version of its ConfigMap and Secret.
type source struct {
	namespace   string
	selfService bool
	cms         cache.SharedIndexInformer
	secrets     cache.SharedIndexInformer
	reader      client.Reader

	mu   sync.Mutex
	apis map[string]builtAPI
}

type builtAPI struct {
	version string
	api     api.API
	err     error
}

func newSource(kube kubernetes.Interface, namespace string, selfService bool, reader client.Reader) *source {
	watchNS := namespace
	if selfService {
		watchNS = metav1.NamespaceAll
	}
	byName := func(name string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + name }
	}
	return &source{
		namespace:   namespace,
		selfService: selfService,
		cms:         coreinformers.NewFilteredConfigMapInformer(kube, watchNS, 0, cache.Indexers{}, byName(ConfigMapName)),
		secrets:     coreinformers.NewFilteredSecretInformer(kube, watchNS, 0, cache.Indexers{}, byName(SecretName)),
		reader:      reader,
		apis:        map[string]builtAPI{},
	}
}

// run starts the informers and waits for their first list.
func (s *source) run(ctx context.Context) error {
	go s.cms.Run(ctx.Done())
	go s.secrets.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.cms.HasSynced, s.secrets.HasSynced) {
		return fmt.Errorf("notifications: the ConfigMap and Secret informers did not sync: %w", ctx.Err())
	}
	return nil
}

// forNamespace returns the configurations that apply to a rollout in namespace: its own
// namespace's first (self-service only), then the controller namespace's. A namespace without
// the ConfigMap has no configuration. The error names every ConfigMap that does not parse.
func (s *source) forNamespace(ctx context.Context, namespace string) ([]config, error) {
	namespaces := []string{s.namespace}
	if s.selfService && namespace != s.namespace {
		namespaces = []string{namespace, s.namespace}
	}
	var out []config
	var errs []error
	for _, ns := range namespaces {
		a, err := s.apiFor(ctx, ns)
		switch {
		case err != nil:
			errs = append(errs, err)
		case a != nil:
			out = append(out, config{namespace: ns, selfService: ns != s.namespace, api: a})
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("invalid notification configuration: %w", errors.Join(errs...))
	}
	return out, nil
}

// mayHaveGlobal tells whether a configuration may subscribe rollouts that carry no
// subscription annotation: a ConfigMap with global `subscriptions`, or ConfigMaps not read yet.
func (s *source) mayHaveGlobal() bool {
	if !s.cms.HasSynced() {
		return true
	}
	for _, obj := range s.cms.GetStore().List() {
		if cm, ok := obj.(*corev1.ConfigMap); ok && strings.TrimSpace(cm.Data["subscriptions"]) != "" {
			return true
		}
	}
	return false
}

func (s *source) apiFor(ctx context.Context, ns string) (api.API, error) {
	cmObj, ok, err := s.cms.GetIndexer().GetByKey(ns + "/" + ConfigMapName)
	if err != nil || !ok {
		return nil, err
	}
	cm := cmObj.(*corev1.ConfigMap)
	secret := &corev1.Secret{}
	if obj, ok, err := s.secrets.GetIndexer().GetByKey(ns + "/" + SecretName); err == nil && ok {
		secret = obj.(*corev1.Secret)
	}
	version := cm.ResourceVersion + "/" + secret.ResourceVersion
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.apis[ns]; ok && b.version == version {
		return b.api, b.err
	}
	a, err := NewAPI(ctx, cm, secret, s.reader)
	s.apis[ns] = builtAPI{version: version, api: a, err: err}
	return a, err
}
