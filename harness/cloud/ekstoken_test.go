package cloud

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The token is a presigned GetCallerIdentity URL that signs the cluster name header, as EKS expects.
func TestEKSToken(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	tok, exp, err := EKSToken(t.Context(), cfg, "mlops-dev")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok, "k8s-aws-v1."), tok)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "k8s-aws-v1."))
	require.NoError(t, err)
	u, err := url.Parse(string(raw))
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "sts.us-east-1.amazonaws.com", u.Host)
	assert.Equal(t, "GetCallerIdentity", q.Get("Action"))
	assert.Equal(t, "60", q.Get("X-Amz-Expires"))
	assert.Contains(t, q.Get("X-Amz-SignedHeaders"), "x-k8s-aws-id")
	assert.Contains(t, q.Get("X-Amz-Credential"), "AKIDEXAMPLE/")
	assert.WithinDuration(t, time.Now().Add(14*time.Minute), exp, time.Minute)
	assert.NotEmpty(t, q.Get("X-Amz-Signature"))
}
