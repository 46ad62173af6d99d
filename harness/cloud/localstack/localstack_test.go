package localstack

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without a Docker engine Start fails at once with one error that says what is missing and what to use instead.
func TestStartWithoutDockerFailsClearly(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := New(Config{})
	t0 := time.Now()
	err := l.Start(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrNoDocker), err)
	assert.Contains(t, err.Error(), "use --aws moto")
	assert.Less(t, time.Since(t0), 10*time.Second)
	assert.Empty(t, l.Endpoint())
	require.NoError(t, l.Stop(ctx))
}

func TestDefaults(t *testing.T) {
	t.Setenv("LOCALSTACK_AUTH_TOKEN", "ls-token")
	l := New(Config{})
	assert.Equal(t, "localstack/localstack:4.14.0", l.cfg.Image)
	assert.Equal(t, "ls-token", l.cfg.AuthToken)
	assert.Equal(t, "us-east-1", l.cfg.Region)
}
