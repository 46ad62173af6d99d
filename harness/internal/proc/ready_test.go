package proc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestHTTPReadyWaitsForA200: a controller's health endpoint is ready only when it answers 200; a failing probe or
// a port nobody listens on is "not yet" (retried), not an error that ends the start.
func TestHTTPReadyWaitsForA200(t *testing.T) {
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	ready := HTTPReady(srv.URL + "/readyz")
	if err := ready(context.Background()); !errors.Is(err, ErrNotYet) {
		t.Fatalf("503: want ErrNotYet, got %v", err)
	}
	status = http.StatusOK
	if err := ready(context.Background()); err != nil {
		t.Fatalf("200: want ready, got %v", err)
	}
	srv.Close()
	if err := ready(context.Background()); !errors.Is(err, ErrNotYet) {
		t.Fatalf("closed: want ErrNotYet, got %v", err)
	}
}
