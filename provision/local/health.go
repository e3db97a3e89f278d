package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
)

// healthClient trusts only the cluster CA and presents the admin client
// certificate (etcd requires a client certificate; the others accept it).
func healthClient(pkiDir string) (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster CA: no certificate in ca.crt")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.crt"), filepath.Join(pkiDir, "admin.key"))
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// probe GETs a health URL; nil means 200 OK.
func probe(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

// waitHealthy polls a process's health URL until it answers 200, failing
// early (with the end of its log) when the process exits.
func waitHealthy(ctx context.Context, hc *http.Client, proc provision.Process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if !alive(proc) {
			return fmt.Errorf("%s exited during start-up: %s (log %s)", proc.Name, logTail(proc.Log), proc.Log)
		}
		if last = probe(ctx, hc, proc.HealthURL); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v (log %s)", proc.Name, timeout, last, proc.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return lastLines(string(data), 2)
}

func clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := provision.RESTConfig(kubeconfig, "")
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cs, nil
}

// trimLog keeps error messages to one line.
func trimLog(s string) string { return strings.Join(strings.Fields(s), " ") }
