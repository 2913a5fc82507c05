package canary

import (
	"context"
	"fmt"

	flaggerv1 "github.com/vanedev/vane/api/flagger/v1beta1"
	engine "github.com/vanedev/vane/internal/strategy/flagger"
)

// Router edits the traffic objects of a provider (internal/flagger/router).
type Router interface {
	// Reconcile creates or updates the provider's objects for the Canary.
	Reconcile(ctx context.Context, cd *flaggerv1.Canary) error
	// SetRoutes sets the weights (out of 100) and mirroring.
	SetRoutes(ctx context.Context, cd *flaggerv1.Canary, primary, canary int, mirrored bool) error
	// GetRoutes reads the weights and mirroring the objects apply.
	GetRoutes(ctx context.Context, cd *flaggerv1.Canary) (primary, canary int, mirrored bool, err error)
	// Finalize reverts the provider's objects when the Canary is deleted with revertOnDeletion.
	Finalize(ctx context.Context, cd *flaggerv1.Canary) error
}

// RouterFactory returns the Router of a provider, or an error naming a provider Vane does not route.
type RouterFactory func(provider string) (Router, error)

// noRoutes is the kubernetes provider's router: Services only, no weights.
type noRoutes struct{}

func (noRoutes) Reconcile(context.Context, *flaggerv1.Canary) error { return nil }
func (noRoutes) SetRoutes(context.Context, *flaggerv1.Canary, int, int, bool) error {
	return nil
}
func (noRoutes) GetRoutes(context.Context, *flaggerv1.Canary) (int, int, bool, error) {
	return 0, 0, false, nil
}
func (noRoutes) Finalize(context.Context, *flaggerv1.Canary) error { return nil }

// KubernetesOnly is the RouterFactory that knows only the kubernetes provider.
func KubernetesOnly(provider string) (Router, error) {
	if provider == flaggerv1.KubernetesProvider {
		return noRoutes{}, nil
	}
	return nil, fmt.Errorf("provider %q is not supported by Vane (supported: %s)", provider, flaggerv1.KubernetesProvider)
}

// prepare reads the workload and makes the objects Flagger makes before each tick: the -canary
// and -primary Services, the primary Deployment and configs, the primary HPA.
func (r *Reconciler) prepare(ctx context.Context, cd *flaggerv1.Canary) (*workload, Router, error) {
	w, err := r.readWorkload(ctx, cd)
	if err != nil {
		return nil, nil, stop(err)
	}
	factory := r.Routers
	if factory == nil {
		factory = KubernetesOnly
	}
	router, err := factory(r.provider(cd))
	if err != nil {
		return nil, nil, stop(err)
	}
	if err := r.initServices(ctx, cd, w); err != nil {
		return nil, nil, stop(err)
	}
	if err := r.ensurePrimary(ctx, cd, w); err != nil {
		return nil, nil, stop(fmt.Errorf("createPrimaryDeployment failed: %w", err))
	}
	if err := r.reconcilePrimaryHPA(ctx, cd); err != nil {
		return nil, nil, stop(err)
	}
	return w, router, nil
}

// routes reads the router's weights; a new Canary has none yet. nil ends the tick.
func (r *Reconciler) routes(ctx context.Context, cd *flaggerv1.Canary, router Router, t *tickState) *engine.Routes {
	if p := cd.Status.Phase; p == "" || p == flaggerv1.PhaseInitializing {
		if !cd.SkipAnalysis() && r.Metrics != nil {
			if err := r.Metrics.Available(ctx, cd); err != nil {
				t.warn(fmt.Errorf("Error checking metric providers: %w", err)) //nolint:stylecheck // Flagger's message
			}
		}
		return &engine.Routes{}
	}
	p, c, m, err := router.GetRoutes(ctx, cd)
	if err != nil {
		t.warn(err)
		return nil
	}
	return &engine.Routes{Primary: p, Canary: c, Mirrored: m}
}

// apply performs the plan's actions in order; the first error stops it.
func (r *Reconciler) apply(ctx context.Context, cd *flaggerv1.Canary, w *workload, router Router, actions []engine.Action) error {
	for _, a := range actions {
		var err error
		switch a.Kind {
		case engine.ReconcileRoutes:
			if err = r.apexService(ctx, cd, w); err == nil {
				err = router.Reconcile(ctx, cd)
			}
		case engine.ScaleToZero:
			err = r.scaleTarget(ctx, w, 0)
		case engine.ScaleFromZero:
			err = r.scaleTarget(ctx, w, r.scaleUpReplicas(ctx, cd, w))
		case engine.Promote:
			err = r.promote(ctx, cd, w)
		case engine.SetRoutes:
			err = router.SetRoutes(ctx, cd, a.Routes.Primary, a.Routes.Canary, a.Routes.Mirrored)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// oracle answers the engine's questions with webhook calls and metric checks.
type oracle struct {
	ctx context.Context
	r   *Reconciler
	cd  *flaggerv1.Canary
}

func (o *oracle) Hook(w flaggerv1.CanaryWebhook, phase flaggerv1.CanaryPhase) error {
	return o.r.hooks().Call(o.ctx, o.cd, phase, engine.Checksum(&o.cd.Status), w)
}

func (o *oracle) Metrics() string {
	if o.r.Metrics == nil {
		if len(o.cd.AnalysisSpec().Metrics) > 0 {
			return fmt.Sprintf("Halt %s.%s advancement: metric checks are not available in this controller", o.cd.Name, o.cd.Namespace)
		}
		return ""
	}
	msg, err := o.r.Metrics.Check(o.ctx, o.cd, o.r.provider(o.cd))
	if err != nil {
		return fmt.Sprintf("Halt %s.%s advancement: metric checks failed: %v", o.cd.Name, o.cd.Namespace, err)
	}
	return msg
}
