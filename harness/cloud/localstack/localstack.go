// Package localstack runs LocalStack in a container through testcontainers-go (modules/localstack) as the AWS
// emulator, for machines with a Docker engine. The default image is pinned to localstack/localstack:4.14.0, the
// last one that starts without an auth token; LOCALSTACK_AUTH_TOKEN is passed through when set (newer images
// and LocalStack's paid EKS API need it).
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/testcontainers/testcontainers-go"
	tclocalstack "github.com/testcontainers/testcontainers-go/modules/localstack"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
)

// DefaultImage is the LocalStack image started when Config.Image is empty.
const DefaultImage = "localstack/localstack:4.14.0"

// ErrNoDocker is wrapped by Start when no Docker engine answers.
var ErrNoDocker = errors.New("no Docker engine answers")

// Config configures the container.
type Config struct {
	Image  string
	Region string
	// AuthToken is passed as LOCALSTACK_AUTH_TOKEN; default: the variable from the environment.
	AuthToken string
	// Log receives testcontainers' and LocalStack's start-up lines; default discards.
	Log io.Writer
}

// LocalStack is a running LocalStack container.
type LocalStack struct {
	cfg      Config
	mu       sync.Mutex
	ctr      *tclocalstack.LocalStackContainer
	endpoint string
}

var _ cloud.Cloud = (*LocalStack)(nil)

// New fills in defaults.
func New(cfg Config) *LocalStack {
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.Region == "" {
		cfg.Region = cloud.DefaultRegion
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = os.Getenv("LOCALSTACK_AUTH_TOKEN")
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	return &LocalStack{cfg: cfg}
}

// CheckDocker fails with ErrNoDocker (and what testcontainers-go saw) when no Docker engine answers.
func CheckDocker(ctx context.Context) (err error) {
	// testcontainers-go panics in some no-Docker paths (MustExtractDockerSocket); turn that into the error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("localstack: %w (%v); use --aws moto", ErrNoDocker, r)
		}
	}()
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(stdlog.New(io.Discard, "", 0)))
	if err != nil {
		return fmt.Errorf("localstack: %w (%v); use --aws moto", ErrNoDocker, err)
	}
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("localstack: %w (%v); use --aws moto", ErrNoDocker, err)
	}
	return nil
}

// Start pulls (when needed) and starts the container and waits for /_localstack/health. testcontainers-go's
// reaper (Ryuk) removes the container if this process dies before Stop.
func (l *LocalStack) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctr != nil {
		return errors.New("localstack: already started")
	}
	if err := CheckDocker(ctx); err != nil {
		return err
	}
	env := map[string]string{"AWS_DEFAULT_REGION": l.cfg.Region}
	if l.cfg.AuthToken != "" {
		env["LOCALSTACK_AUTH_TOKEN"] = l.cfg.AuthToken
	}
	ctr, err := tclocalstack.Run(ctx, l.cfg.Image,
		testcontainers.WithEnv(env),
		testcontainers.WithLogger(stdlog.New(l.cfg.Log, "localstack: ", 0)))
	if err != nil {
		if ctr != nil {
			_ = testcontainers.TerminateContainer(ctr)
		}
		return fmt.Errorf("localstack: start %s: %w", l.cfg.Image, err)
	}
	ep, err := ctr.PortEndpoint(ctx, "4566/tcp", "http")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return fmt.Errorf("localstack: endpoint: %w", err)
	}
	l.ctr, l.endpoint = ctr, ep
	return nil
}

// Stop removes the container; safe to call twice.
func (l *LocalStack) Stop(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctr == nil {
		return nil
	}
	err := testcontainers.TerminateContainer(l.ctr)
	l.ctr, l.endpoint = nil, ""
	return err
}

// Endpoint is the container's edge URL (http://host:port).
func (l *LocalStack) Endpoint() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.endpoint
}

// Config is an SDK configuration with LocalStack's test credentials aimed at the container.
func (l *LocalStack) Config(ctx context.Context) (aws.Config, error) {
	ep := l.Endpoint()
	if ep == "" {
		return aws.Config{}, errors.New("localstack: not started")
	}
	return config.LoadDefaultConfig(ctx, config.WithRegion(l.cfg.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithBaseEndpoint(ep))
}

// Name is the backend's --aws name.
func (l *LocalStack) Name() string { return "localstack" }
