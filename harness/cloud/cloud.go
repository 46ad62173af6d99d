// Package cloud is where AWS lives for the harness: an emulator or the real thing, behind one interface, and
// the AWS-side checks (EKS node groups, the artifacts bucket) written once with the AWS SDK for Go v2 and used
// against every backend. Backends are sibling packages: moto (default), localstack, endpoint and real (aws).
package cloud

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// DefaultRegion is the region used where neither terraform/ nor a flag names one.
const DefaultRegion = "us-east-1"

// Cloud is an AWS API endpoint the harness can start and stop.
type Cloud interface {
	// Start makes the endpoint answer; a failed Start undoes itself.
	Start(ctx context.Context) error
	// Stop releases everything Start took; safe to call twice.
	Stop(ctx context.Context) error
	// Config is an AWS SDK configuration aimed at the endpoint.
	Config(ctx context.Context) (aws.Config, error)
	// Endpoint is the URL for AWS_ENDPOINT_URL; empty for real AWS.
	Endpoint() string
	// Name is the backend's name as --aws spells it (moto, localstack, endpoint, aws).
	Name() string
}

// RefuseRealCredentials fails when the environment holds credentials that look like real AWS ones
// (AKIA/ASIA access keys, or a profile), so an emulator run can never touch an account by mistake.
func RefuseRealCredentials() error {
	id := os.Getenv("AWS_ACCESS_KEY_ID")
	if strings.HasPrefix(id, "AKIA") || strings.HasPrefix(id, "ASIA") {
		return fmt.Errorf("AWS_ACCESS_KEY_ID looks real (%s...): unset it to run against an emulator", id[:4])
	}
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		return fmt.Errorf("AWS_PROFILE=%s is set: unset it to run against an emulator", p)
	}
	return nil
}
