package embedded

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// The single member's name and peer address (loopback, port chosen at listen time, never dialled).
const (
	etcdName    = "harness"
	etcdPeerURL = "http://127.0.0.1:0"
)

// startEtcd starts a single-member etcd with its data in dir, listening on free loopback ports.
// It returns the client URL and a stop function.
func startEtcd(ctx context.Context, dir, logFile string) (string, func(), error) {
	cfg := embed.NewConfig()
	cfg.Name = etcdName
	cfg.Dir = filepath.Join(dir, "etcd")
	zero := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{zero}, []url.URL{zero}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{zero}, []url.URL{zero}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ListenMetricsUrls = nil
	cfg.LogOutputs = []string{logFile}
	cfg.LogLevel = "warn"
	// A throwaway cluster: durability is not needed, speed is.
	cfg.UnsafeNoFsync = true
	// One member on loopback: elect it at once.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.QuotaBackendBytes = 2 << 30

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", nil, fmt.Errorf("start etcd: %w", err)
	}
	stop := func() { e.Close() }
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		stop()
		return "", nil, fmt.Errorf("etcd failed: %w", err)
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("etcd not ready after 30s")
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
	return "http://" + e.Clients[0].Addr().String(), stop, nil
}
