package deploy

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// ChartRepo is a Helm HTTP repository served on 127.0.0.1 (index.yaml and one archive per chart, as
// `helm repo index` lays them out).
type ChartRepo struct {
	URL string
	srv *http.Server
}

// ServeCharts packages the unpacked charts in dirs into a repository under dir and serves it on a free loopback
// port until Close.
func ServeCharts(dir string, dirs []string) (*ChartRepo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for _, d := range dirs {
		ch, err := loader.Load(d)
		if err != nil {
			return nil, fmt.Errorf("load chart %s: %w", d, err)
		}
		if _, err := chartutil.Save(ch, dir); err != nil {
			return nil, fmt.Errorf("package chart %s: %w", d, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	url := "http://" + l.Addr().String()
	idx, err := repo.IndexDirectory(dir, url)
	if err != nil {
		l.Close()
		return nil, err
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		l.Close()
		return nil, err
	}
	r := &ChartRepo{URL: url, srv: &http.Server{Handler: http.FileServer(http.Dir(dir))}}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// Close stops serving.
func (r *ChartRepo) Close() error { return r.srv.Close() }
