// Package endpoint aims the harness at an AWS-compatible endpoint someone else runs (a shared LocalStack, a
// moto in another container): Start checks it answers, Stop leaves it alone.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
)

// Config names the endpoint.
type Config struct {
	URL    string
	Region string
}

// Endpoint is an AWS API endpoint the harness did not start.
type Endpoint struct{ cfg Config }

var _ cloud.Cloud = (*Endpoint)(nil)

// New validates cfg.
func New(cfg Config) (*Endpoint, error) {
	if cfg.URL == "" {
		return nil, errors.New("endpoint: Config.URL is required")
	}
	if cfg.Region == "" {
		cfg.Region = cloud.DefaultRegion
	}
	return &Endpoint{cfg: cfg}, nil
}

// Start checks that the endpoint answers HTTP.
func (e *Endpoint) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.cfg.URL, nil)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", e.cfg.URL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("endpoint %s does not answer: %w", e.cfg.URL, err)
	}
	return resp.Body.Close()
}

// Stop does nothing: the endpoint is not ours.
func (e *Endpoint) Stop(context.Context) error { return nil }

// Endpoint is the URL.
func (e *Endpoint) Endpoint() string { return e.cfg.URL }

// Config is an SDK configuration with test credentials aimed at the endpoint.
func (e *Endpoint) Config(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, config.WithRegion(e.cfg.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(e.cfg.URL))
}

// Name is the backend's --aws name.
func (e *Endpoint) Name() string { return "endpoint" }
