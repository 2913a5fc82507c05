package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/vanedev/vane/api/v1alpha1"
)

// PrometheusService is the SigV4 signing name of Amazon Managed Service for Prometheus.
const PrometheusService = "aps"

// SigV4 signs requests with AWS Signature Version 4, as Argo Rollouts' prometheus provider does
// for Amazon Managed Prometheus: the credentials are the AWS SDK's default chain (environment,
// web identity/IRSA, EKS Pod Identity, shared files with `profile`, instance role), of
// `roleArn` when given (assumed through STS, and renewed before they expire); the region is
// `region`, or the environment's. Credentials are cached by configuration.
//
// Unlike Argo, which signs only addresses containing "aps-workspaces", Vane signs whenever
// sigv4 is configured (a proxy or private endpoint of the workspace is signed too).
type SigV4 struct {
	// LoadConfig loads the AWS configuration of a region and profile ("" for the default);
	// the SDK's LoadDefaultConfig when nil.
	LoadConfig func(ctx context.Context, region, profile string) (aws.Config, error)
	// Now gives the signing time (time.Now when nil).
	Now func() time.Time

	mu    sync.Mutex
	creds map[v1alpha1.Sigv4Config]signing
}

// signing is what a configuration signs with.
type signing struct {
	region string
	creds  aws.CredentialsProvider
}

// Sign signs req, whose body is body, for service. Errors say what is missing (a region,
// credentials) without any key.
func (s *SigV4) Sign(ctx context.Context, c v1alpha1.Sigv4Config, service string, req *http.Request, body []byte) error {
	sg, err := s.signing(ctx, c)
	if err != nil {
		return err
	}
	creds, err := sg.creds.Retrieve(ctx)
	if err != nil {
		if c.RoleARN != "" {
			return fmt.Errorf("authentication.sigv4: no AWS credentials for role %s: %w", c.RoleARN, err)
		}
		return fmt.Errorf("authentication.sigv4: no AWS credentials in the controller's environment: %w", err)
	}
	sum := sha256.Sum256(body)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, sg.region, now()); err != nil {
		return fmt.Errorf("authentication.sigv4: signing the request: %w", err)
	}
	return nil
}

// signing returns the region and credentials of a configuration, loading them the first time.
func (s *SigV4) signing(ctx context.Context, c v1alpha1.Sigv4Config) (signing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sg, ok := s.creds[c]; ok {
		return sg, nil
	}
	load := s.LoadConfig
	if load == nil {
		load = loadDefaultConfig
	}
	cfg, err := load(ctx, c.Region, c.Profile)
	if err != nil {
		return signing{}, fmt.Errorf("authentication.sigv4: loading the AWS configuration (profile %q): %w", c.Profile, err)
	}
	if cfg.Region == "" {
		return signing{}, errors.New("authentication.sigv4: no region: set sigv4.region, or AWS_REGION in the controller's environment")
	}
	if cfg.Credentials == nil {
		return signing{}, errors.New("authentication.sigv4: no AWS credentials in the controller's environment")
	}
	creds := cfg.Credentials
	if c.RoleARN != "" {
		creds = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "vane-analysis" }))
	}
	sg := signing{region: cfg.Region, creds: creds}
	if s.creds == nil {
		s.creds = map[v1alpha1.Sigv4Config]signing{}
	}
	s.creds[c] = sg
	return sg, nil
}

func loadDefaultConfig(ctx context.Context, region, profile string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}
