package alb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

const (
	// loadBalancerPageSize is the page size of DescribeLoadBalancers (Argo's).
	loadBalancerPageSize = 300
	// tagsBatch is the most target groups one DescribeTags call may name.
	tagsBatch = 20
	// maxPages bounds the pages read of one listing.
	maxPages = 50
)

// ELBv2 is the part of the Elastic Load Balancing v2 API the verifier calls; the SDK's
// *elasticloadbalancingv2.Client implements it.
type ELBv2 interface {
	DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTags(ctx context.Context, in *elbv2.DescribeTagsInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
	DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
}

// AWSVerifier is a Verifier on the ELBv2 API (the calls Argo makes, which need the IAM
// actions elasticloadbalancing:DescribeLoadBalancers, DescribeTargetGroups, DescribeTags,
// DescribeListeners and DescribeRules). It remembers the load balancer of each DNS name.
type AWSVerifier struct {
	api ELBv2
	mu  sync.Mutex
	lbs map[string]LoadBalancer // by DNS name
}

// NewAWSVerifier returns a Verifier calling api.
func NewAWSVerifier(api ELBv2) *AWSVerifier {
	return &AWSVerifier{api: api, lbs: map[string]LoadBalancer{}}
}

// AWSOptions configure LoadAWSVerifier.
type AWSOptions struct {
	// LoadConfig loads the AWS configuration; the SDK's default chain (AWS_REGION,
	// credentials from the environment, web identity, shared files, instance role) when nil.
	LoadConfig func(ctx context.Context) (aws.Config, error)
	// HTTP sends the requests (the SDK's client when nil).
	HTTP *http.Client
	// ClientOptions adjust the ELBv2 client (e.g. its endpoint).
	ClientOptions []func(*elbv2.Options)
}

// LoadAWSVerifier builds an AWSVerifier from the controller's AWS configuration; the region
// must be known.
func LoadAWSVerifier(ctx context.Context, o AWSOptions) (*AWSVerifier, error) {
	load := o.LoadConfig
	if load == nil {
		load = func(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
	}
	cfg, err := load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration for target group verification: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("target group verification needs an AWS region: set AWS_REGION in the controller's environment")
	}
	if o.HTTP != nil {
		cfg.HTTPClient = o.HTTP
	}
	return NewAWSVerifier(elbv2.NewFromConfig(cfg, o.ClientOptions...)), nil
}

// LoadBalancer finds the load balancer of dnsName among every page of DescribeLoadBalancers.
func (v *AWSVerifier) LoadBalancer(ctx context.Context, dnsName string) (*LoadBalancer, error) {
	v.mu.Lock()
	lb, ok := v.lbs[dnsName]
	v.mu.Unlock()
	if ok {
		return &lb, nil
	}
	in := &elbv2.DescribeLoadBalancersInput{PageSize: aws.Int32(loadBalancerPageSize)}
	for range maxPages {
		out, err := v.api.DescribeLoadBalancers(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("DescribeLoadBalancers: %w", err)
		}
		for _, l := range out.LoadBalancers {
			if aws.ToString(l.DNSName) == dnsName {
				lb := LoadBalancer{Name: aws.ToString(l.LoadBalancerName), ARN: aws.ToString(l.LoadBalancerArn), DNSName: dnsName}
				v.mu.Lock()
				v.lbs[dnsName] = lb
				v.mu.Unlock()
				return &lb, nil
			}
		}
		if aws.ToString(out.NextMarker) == "" {
			return nil, nil
		}
		in.Marker = out.NextMarker
	}
	return nil, nil
}

// TargetGroups lists the load balancer's target groups, their tags (DescribeTags, 20 at a
// time) and the weights its listeners' rules forward to them.
func (v *AWSVerifier) TargetGroups(ctx context.Context, loadBalancerARN string) ([]TargetGroup, error) {
	groups, err := v.targetGroups(ctx, loadBalancerARN)
	if err != nil {
		return nil, err
	}
	byARN := map[string]*TargetGroup{}
	var arns []string
	for i := range groups {
		byARN[groups[i].ARN] = &groups[i]
		arns = append(arns, groups[i].ARN)
	}
	for i := 0; i < len(arns); i += tagsBatch {
		out, err := v.api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns[i:min(i+tagsBatch, len(arns))]})
		if err != nil {
			return nil, fmt.Errorf("DescribeTags: %w", err)
		}
		for _, d := range out.TagDescriptions {
			if tg := byARN[aws.ToString(d.ResourceArn)]; tg != nil {
				for _, t := range d.Tags {
					tg.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
		}
	}
	return groups, v.weights(ctx, loadBalancerARN, byARN)
}

// targetGroups reads every page of DescribeTargetGroups of the load balancer.
func (v *AWSVerifier) targetGroups(ctx context.Context, loadBalancerARN string) ([]TargetGroup, error) {
	var groups []TargetGroup
	in := &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(loadBalancerARN)}
	for range maxPages {
		out, err := v.api.DescribeTargetGroups(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("DescribeTargetGroups: %w", err)
		}
		for _, tg := range out.TargetGroups {
			groups = append(groups, TargetGroup{Name: aws.ToString(tg.TargetGroupName), ARN: aws.ToString(tg.TargetGroupArn), Tags: map[string]string{}})
		}
		if aws.ToString(out.NextMarker) == "" {
			break
		}
		in.Marker = out.NextMarker
	}
	return groups, nil
}

// weights sets each target group's weight from the forward actions of the rules of the load
// balancer's listeners.
func (v *AWSVerifier) weights(ctx context.Context, loadBalancerARN string, byARN map[string]*TargetGroup) error {
	lin := &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(loadBalancerARN)}
	for range maxPages {
		lout, err := v.api.DescribeListeners(ctx, lin)
		if err != nil {
			return fmt.Errorf("DescribeListeners: %w", err)
		}
		for _, l := range lout.Listeners {
			if err := v.ruleWeights(ctx, l.ListenerArn, byARN); err != nil {
				return err
			}
		}
		if aws.ToString(lout.NextMarker) == "" {
			return nil
		}
		lin.Marker = lout.NextMarker
	}
	return nil
}

// ruleWeights sets the weights the forward actions of a listener's rules give.
func (v *AWSVerifier) ruleWeights(ctx context.Context, listenerARN *string, byARN map[string]*TargetGroup) error {
	in := &elbv2.DescribeRulesInput{ListenerArn: listenerARN}
	for range maxPages {
		out, err := v.api.DescribeRules(ctx, in)
		if err != nil {
			return fmt.Errorf("DescribeRules: %w", err)
		}
		for _, rule := range out.Rules {
			for _, a := range rule.Actions {
				if a.ForwardConfig == nil {
					continue
				}
				for _, t := range a.ForwardConfig.TargetGroups {
					if tg := byARN[aws.ToString(t.TargetGroupArn)]; tg != nil {
						tg.Weight = t.Weight
					}
				}
			}
		}
		if aws.ToString(out.NextMarker) == "" {
			return nil
		}
		in.Marker = out.NextMarker
	}
	return nil
}
