// Package moto runs moto_server (PyPI moto[server]) as the AWS emulator: a process on a free loopback port,
// installed into a project-local virtualenv when missing.
package moto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/cloud"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/internal/proc"
	"github.com/eks-mlops/eks-mlops-enterprise-grade/harness/runtimes"
)

// Version is the moto release installed when the virtualenv lacks moto_server.
const Version = runtimes.MotoVersion

// Config configures the emulator.
type Config struct {
	// Venv is the virtualenv holding moto_server; created with python3 -m venv when missing. Required.
	Venv   string
	Region string
	// LogFile receives moto's output; default discards.
	LogFile string
}

// Moto is a running moto_server.
type Moto struct {
	cfg      Config
	mu       sync.Mutex
	proc     *proc.Process
	endpoint string
}

var _ cloud.Cloud = (*Moto)(nil)

// New validates cfg.
func New(cfg Config) (*Moto, error) {
	if cfg.Venv == "" {
		return nil, errors.New("moto: Config.Venv is required")
	}
	if cfg.Region == "" {
		cfg.Region = cloud.DefaultRegion
	}
	return &Moto{cfg: cfg}, nil
}

// Installation identifies what answers this emulator's requests: the moto release and its virtualenv (resolved).
// Requests moto answers from its installation's fixed data are answered alike by every Moto of one Installation
// (publicdata.Config.Catalog).
func (m *Moto) Installation() string {
	venv, err := filepath.EvalSymlinks(m.cfg.Venv)
	if err != nil {
		venv = m.cfg.Venv
	}
	if abs, err := filepath.Abs(venv); err == nil {
		venv = abs
	}
	return "moto " + Version + " " + venv
}

// Install makes sure <venv>/bin/moto_server exists, creating the virtualenv and installing moto[server].
func Install(ctx context.Context, venv string) (string, error) {
	return runtimes.InstallMoto(ctx, venv)
}

// Start installs moto if needed, starts moto_server on a free loopback port and waits until it answers.
func (m *Moto) Start(ctx context.Context) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return errors.New("moto: already started")
	}
	bin, err := Install(ctx, m.cfg.Venv)
	if err != nil {
		return fmt.Errorf("install moto: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	m.endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	// SIGTERM when the harness dies: moto_server stops cleanly.
	m.proc, err = proc.Start(ctx, proc.Spec{Name: "moto_server", Path: bin, Args: []string{"-H", "127.0.0.1", "-p", strconv.Itoa(port)},
		Log: m.cfg.LogFile, ParentDeath: syscall.SIGTERM, StartTimeout: 30 * time.Second,
		Ready: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.endpoint+"/moto-api/", nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("%w: %v", proc.ErrNotYet, err)
			}
			resp.Body.Close()
			return nil
		}})
	return err
}

// Stop terminates moto_server. Safe to call twice.
func (m *Moto) Stop(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopLocked()
}

func (m *Moto) stopLocked() error {
	if m.proc == nil {
		return nil
	}
	err := m.proc.Stop()
	m.proc = nil
	return err
}

// Endpoint is moto's URL.
func (m *Moto) Endpoint() string { return m.endpoint }

// Config is an SDK configuration with moto's test credentials, aimed at the endpoint.
func (m *Moto) Config(ctx context.Context) (aws.Config, error) {
	return config.LoadDefaultConfig(ctx, config.WithRegion(m.cfg.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(m.endpoint))
}

// Name is the backend's --aws name.
func (m *Moto) Name() string { return "moto" }
