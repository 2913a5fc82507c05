package keptn

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Run passes over the recorded tasks every Interval, and at once when an event is recorded,
// until ctx ends. No goroutine waits for a task: a wait is its stored end time.
func (s *Service) Run(ctx context.Context) error {
	ticker := s.opts.Clock.NewTicker(s.opts.Interval)
	defer ticker.Stop()
	for {
		if err := s.Pass(ctx); err != nil && ctx.Err() == nil {
			ctrl.LoggerFrom(ctx).Error(err, "Keptn task pass")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		case <-s.kick:
		}
	}
}

// Pass moves every recorded task one step on where it can: sends `.started`, acts on the
// rollout, checks what it waits for, sends `.finished`. Per rollout, the tasks that change it
// (deployment, release) act in the order their events were received; a rollback and the
// canary waits never wait for another task.
func (s *Service) Pass(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	records, err := s.store.List(ctx, s.opts.Namespaces)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range records {
		busy := false
		for i := range rec.Tasks {
			t := &rec.Tasks[i]
			if t.State == stateDone {
				continue
			}
			log := ctrl.LoggerFrom(ctx).WithValues("rollout", rec.Target, "task", t.Task, "triggeredid", t.ID)
			tctx := ctrl.LoggerInto(ctx, log)
			serial := t.Task == TaskDeployment || t.Task == TaskRelease
			if err := s.step(tctx, rec.Target, t, serial && busy); err != nil {
				errs = append(errs, fmt.Errorf("%s task %s of %s/%s: %w", t.Task, t.ID, rec.Target.Namespace, rec.Target.Name, err))
			}
			if serial && t.State != stateDone {
				busy = true
			}
		}
	}
	return errors.Join(errs...)
}

// step moves t as far as it goes now; blocked holds it before acting.
func (s *Service) step(ctx context.Context, target Target, t *Task, blocked bool) error {
	if !t.Started {
		if err := s.opts.Sender.Send(ctx, t, KindStarted, FinishedData{EventData: t.startedData()}, s.opts.Clock.Now()); err != nil {
			return err
		}
		if err := s.save(ctx, target, t, func(x *Task) { x.Started = true }); err != nil {
			return err
		}
		ctrl.LoggerFrom(ctx).Info("Keptn task started")
	}
	if (t.State == stateNew || t.State == statePromoting) && !blocked {
		if err := s.act(ctx, target, t); err != nil {
			return err
		}
	}
	if t.State == stateAwaiting {
		if err := s.check(ctx, target, t); err != nil {
			return err
		}
	}
	if t.State != stateFinishing {
		return nil
	}
	if err := s.opts.Sender.Send(ctx, t, KindFinished, t.finishedData(), s.opts.Clock.Now()); err != nil {
		return err
	}
	ctrl.LoggerFrom(ctx).Info("Keptn task finished", "result", t.Result, "status", t.Status, "message", t.Message)
	return s.save(ctx, target, t, func(x *Task) { x.State = stateDone })
}

// save stores change to t and applies it to the local copy.
func (s *Service) save(ctx context.Context, target Target, t *Task, change func(*Task)) error {
	if err := s.store.Update(ctx, target, t.ID, change); err != nil {
		return err
	}
	change(t)
	return nil
}

// finish records the outcome of t; the pass sends its `.finished`.
func (s *Service) finish(ctx context.Context, target Target, t *Task, result, status, message string) error {
	return s.save(ctx, target, t, func(x *Task) {
		x.State, x.Result, x.Status, x.Message = stateFinishing, result, status, message
	})
}

func (t *Task) startedData() EventData {
	d := t.eventData()
	d.Status = StatusSucceeded
	return d
}

func (t *Task) finishedData() FinishedData {
	d := FinishedData{EventData: t.eventData()}
	d.Result, d.Status, d.Message = t.Result, t.Status, t.Message
	switch t.Task {
	case TaskDeployment:
		d.Deployment = &DeploymentData{DeploymentStrategy: t.Strategy, DeploymentURIsLocal: t.URIs}
	case TaskTest:
		d.Test = &TestData{Start: t.Received.UTC().Format(time.RFC3339), End: t.WaitUntil.UTC().Format(time.RFC3339)}
	}
	return d
}
