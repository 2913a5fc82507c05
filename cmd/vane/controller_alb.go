package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/vanedev/vane/internal/controller/rollout"
	"github.com/vanedev/vane/internal/traffic/alb"
)

// albFlags are the ALB router's settings of `vane controller`, named as Argo's.
type albFlags struct {
	verify bool
	tagKey string
}

// addALBFlags adds Argo's ALB flags: --aws-verify-target-group (and its deprecated name
// --alb-verify-weight) and --alb-tag-key-resource-id.
func addALBFlags(fl *pflag.FlagSet) *albFlags {
	a := &albFlags{}
	fl.BoolVar(&a.verify, "aws-verify-target-group", false,
		"verify ALB target group weights on AWS before a canary step completes (needs AWS_REGION and elasticloadbalancing:Describe* permissions)")
	fl.BoolVar(&a.verify, "alb-verify-weight", false, "verify ALB target group weights on AWS")
	_ = fl.MarkDeprecated("alb-verify-weight", "use --aws-verify-target-group instead")
	fl.StringVar(&a.tagKey, "alb-tag-key-resource-id", alb.DefaultResourceIDTag,
		"the AWS target group tag that names a target group's Ingress, Service and port, for the verification")
	return a
}

// rolloutOptions are the rollout reconciler's options the flags give: with verification,
// a verifier on the ELBv2 API from the controller's AWS environment.
func (a *albFlags) rolloutOptions(ctx context.Context) ([]rollout.Option, error) {
	o := rollout.ALBOptions{ResourceIDTag: a.tagKey}
	if a.verify {
		v, err := alb.LoadAWSVerifier(ctx, alb.AWSOptions{})
		if err != nil {
			return nil, err
		}
		o.Verifier = v
	}
	return []rollout.Option{rollout.WithALB(o)}, nil
}
