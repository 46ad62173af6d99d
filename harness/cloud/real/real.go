// Package real is the AWS backend that spends money: the SDK's default credential chain, aimed at real AWS,
// and only at the account the caller names. Start asks STS who the credentials belong to and refuses any other
// account, so a stray profile or an expired role session never provisions in the wrong place.
package real

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
)

// Config names the account and region.
type Config struct {
	// Account is the 12-digit account ID the run is allowed to use. Required.
	Account string
	Region  string
	// Profile is a shared-config profile; empty uses the default chain (env, SSO, web identity, IMDS).
	Profile string
}

// AWS is real AWS, after the account check.
type AWS struct {
	cfg    Config
	mu     sync.Mutex
	awsCfg *aws.Config
	// Caller is the ARN STS returned.
	caller string
}

var _ cloud.Cloud = (*AWS)(nil)

var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// New validates cfg.
func New(cfg Config) (*AWS, error) {
	if cfg.Account == "" {
		return nil, errors.New("aws backend: the account to use is required (--aws-account or HARNESS_AWS_ACCOUNT): it is compared with the credentials' account before anything is created")
	}
	if !accountID.MatchString(cfg.Account) {
		return nil, fmt.Errorf("aws backend: account %q is not a 12-digit AWS account ID", cfg.Account)
	}
	if cfg.Region == "" {
		cfg.Region = cloud.DefaultRegion
	}
	return &AWS{cfg: cfg}, nil
}

// Start loads the credentials and checks, with STS GetCallerIdentity, that they belong to cfg.Account.
func (a *AWS) Start(ctx context.Context) error {
	opts := []func(*config.LoadOptions) error{config.WithRegion(a.cfg.Region)}
	if a.cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.cfg.Profile))
	}
	c, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("aws backend: load credentials: %w", err)
	}
	id, err := sts.NewFromConfig(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("aws backend: who are these credentials? STS GetCallerIdentity: %w", err)
	}
	if got := aws.ToString(id.Account); got != a.cfg.Account {
		return fmt.Errorf("aws backend: credentials belong to account %s (%s), the run is allowed only in %s: refusing", got, aws.ToString(id.Arn), a.cfg.Account)
	}
	a.mu.Lock()
	a.awsCfg, a.caller = &c, aws.ToString(id.Arn)
	a.mu.Unlock()
	return nil
}

// Stop forgets the credentials; what was created is destroyed by whoever created it (the apply tier's
// deferred destroy).
func (a *AWS) Stop(context.Context) error {
	a.mu.Lock()
	a.awsCfg = nil
	a.mu.Unlock()
	return nil
}

// Endpoint is empty: the SDK's and Terraform's own endpoints.
func (a *AWS) Endpoint() string { return "" }

// Caller is the ARN the credentials resolved to (after Start).
func (a *AWS) Caller() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.caller
}

// Config is the checked SDK configuration.
func (a *AWS) Config(context.Context) (aws.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.awsCfg == nil {
		return aws.Config{}, errors.New("aws backend: not started")
	}
	return *a.awsCfg, nil
}

// Name is the backend's --aws name.
func (a *AWS) Name() string { return "aws" }
