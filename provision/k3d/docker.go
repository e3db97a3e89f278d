package k3d

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"
	dockerctx "github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
)

// DockerUnavailableError means the Docker daemon cannot be used: it does
// not answer, or this user may not talk to it.
type DockerUnavailableError struct {
	Err error
	// Timeout is set when the daemon did not answer within it.
	Timeout time.Duration
}

func (e *DockerUnavailableError) Error() string {
	const alt = "or use --provider local for a Docker-free cluster"
	if e.Timeout > 0 {
		return fmt.Sprintf("Docker did not answer within %s (a daemon that is still starting, or a wedged one): check 'docker info', %s", e.Timeout, alt)
	}
	msg := strings.Join(strings.Fields(e.Err.Error()), " ")
	if errors.Is(e.Err, os.ErrPermission) {
		return fmt.Sprintf("no permission to use the Docker socket (%s): add your user to the docker group and log in again, or point DOCKER_HOST at a socket you may use, %s", msg, alt)
	}
	return fmt.Sprintf("Docker is not reachable (%s): start Docker, %s", msg, alt)
}

func (e *DockerUnavailableError) Unwrap() error { return e.Err }

// checkRuntime fails with a DockerUnavailableError when the daemon does
// not answer within DockerTimeout. The SDK itself only logs such failures
// in places (ClusterGet reports "no nodes found"), so this runs before any
// SDK call.
func (p *Provider) checkRuntime(ctx context.Context) error {
	timeout := p.opts.DockerTimeout
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The runtime's Info takes no context (the Docker runtime asks with
	// context.Background()), so a daemon that accepts the connection and
	// never answers would block it for ever: wait in a goroutine and give
	// up at the deadline. An abandoned call ends when the daemon answers or
	// the process exits.
	done := make(chan error, 1)
	go func() {
		_, err := p.opts.Runtime.Info()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return &DockerUnavailableError{Err: err}
		}
		return nil
	case <-tctx.Done():
		if ctx.Err() != nil {
			return ctx.Err() // Ctrl-C, not the daemon
		}
		return &DockerUnavailableError{Err: tctx.Err(), Timeout: timeout}
	}
}

// RemoteDockerError means Docker talks to a daemon on another machine.
// k3d publishes the API server on the daemon's host and the kubeconfig
// names 127.0.0.1, and the free-port probe checks this machine: none of it
// would point at the cluster.
type RemoteDockerError struct{ Host string }

func (e *RemoteDockerError) Error() string {
	return fmt.Sprintf("Docker uses the remote daemon %s, but provider k3d needs a daemon on this machine (the clusters' API servers are published on the daemon's host and reached at 127.0.0.1): unset DOCKER_HOST or run 'docker context use default', or run dstload on the Docker host", e.Host)
}

// checkLocalDaemon refuses a Docker endpoint on another host. It reads the
// settings only (DOCKER_HOST, DOCKER_CONTEXT, the docker CLI's current
// context) and never dials: an ssh:// endpoint would start ssh.
func (p *Provider) checkLocalDaemon() error {
	if p.opts.daemonHost == nil {
		return nil
	}
	host, err := p.opts.daemonHost()
	if err != nil {
		return fmt.Errorf("find the Docker endpoint: %w; check DOCKER_HOST, DOCKER_CONTEXT and 'docker context ls'", err)
	}
	if !isLocalDaemon(host) {
		return &RemoteDockerError{Host: host}
	}
	return nil
}

// dockerDaemonHost resolves the endpoint as the docker CLI (and so k3d's
// Docker runtime, which is built on it) does: DOCKER_HOST, else the context
// named by DOCKER_CONTEXT or the CLI config's currentContext, else the
// default socket (""). The k3d runtime's own GetHost asks the daemon and
// ignores contexts, so it cannot serve here.
func dockerDaemonHost() (string, error) {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h, nil
	}
	// The config dir is read from DOCKER_CONFIG here, not through
	// config.Dir(), which keeps the first value it computed for the life of
	// the process.
	dir := os.Getenv(config.EnvOverrideConfigDir)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".docker")
	}
	name := os.Getenv(command.EnvOverrideContext)
	if name == "" {
		cf, err := config.Load(dir)
		if err != nil {
			return "", fmt.Errorf("read the docker CLI config in %s: %w", dir, err)
		}
		name = cf.CurrentContext
	}
	if name == "" || name == command.DefaultContextName {
		return "", nil
	}
	s := store.New(filepath.Join(dir, "contexts"), command.DefaultContextStoreConfig())
	meta, err := s.GetMetadata(name)
	if err != nil {
		return "", fmt.Errorf("docker context %q: %w", name, err)
	}
	ep, err := dockerctx.EndpointFromContext(meta)
	if err != nil {
		return "", fmt.Errorf("docker context %q: %w", name, err)
	}
	return ep.Host, nil
}

// isLocalDaemon reports whether a Docker endpoint is on this machine: the
// default, a unix socket, a Windows pipe, or tcp/ssh to a loopback address.
func isLocalDaemon(host string) bool {
	if host == "" {
		return true
	}
	u, err := url.Parse(host)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "unix", "npipe", "fd":
		return true
	case "tcp", "ssh", "http", "https":
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// CheckDocker reports whether this machine's Docker daemon can serve k3d:
// a local daemon that answers within timeout. nil means it can; the error
// says why not (a DockerUnavailableError or a RemoteDockerError).
func CheckDocker(ctx context.Context, timeout time.Duration) error {
	p := New(Options{DockerTimeout: timeout})
	if err := p.checkLocalDaemon(); err != nil {
		return err
	}
	return p.checkRuntime(ctx)
}
