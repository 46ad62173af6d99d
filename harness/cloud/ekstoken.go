package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// EKSTokenLifetime is how long an EKS bearer token is accepted (15 minutes by EKS); callers refresh before.
const EKSTokenLifetime = 14 * time.Minute

// EKSToken returns a bearer token for the EKS cluster's API server, made the way aws-iam-authenticator and
// `aws eks get-token` make it: an STS GetCallerIdentity request presigned with the x-k8s-aws-id header naming
// the cluster, base64url-encoded behind "k8s-aws-v1.". Nothing is sent to AWS; EKS verifies the signature.
func EKSToken(ctx context.Context, cfg aws.Config, clusterName string) (string, time.Time, error) {
	ps := sts.NewPresignClient(sts.NewFromConfig(cfg))
	req, err := ps.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(o *sts.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, sts.WithAPIOptions(
			smithyhttp.AddHeaderValue("x-k8s-aws-id", clusterName),
			smithyhttp.AddHeaderValue("X-Amz-Expires", "60"),
		))
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign STS GetCallerIdentity for cluster %s: %w", clusterName, err)
	}
	return "k8s-aws-v1." + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), time.Now().Add(EKSTokenLifetime), nil
}
