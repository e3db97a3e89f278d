package k3d

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	runtimetypes "github.com/k3d-io/k3d/v5/pkg/runtimes/types"
)

// infoRuntime is a runtime whose Info behaves as the Docker runtime's does
// against a daemon in some state.
type infoRuntime struct {
	*fakeRuntime
	info func() error
}

func (r infoRuntime) Info() (*runtimetypes.RuntimeInfo, error) {
	if err := r.info(); err != nil {
		return nil, err
	}
	return &runtimetypes.RuntimeInfo{Name: "docker"}, nil
}

// dialError is the error chain of the Docker client failing to connect to
// its socket (net/http's url.Error around net.OpError around the errno),
// with the Docker runtime's wrapping; the client adds its own text but
// keeps the chain (client/request.go, doRequest).
func dialError(errno syscall.Errno, clientText string) error {
	sock := "/var/run/docker.sock"
	dial := &url.Error{Op: "Get", URL: "http://%2Fvar%2Frun%2Fdocker.sock/v1.51/info",
		Err: &net.OpError{Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: sock, Net: "unix"}, Err: os.NewSyscallError("connect", errno)}}
	return fmt.Errorf("docker failed to provide info output: %w", fmt.Errorf("%s unix://%s: %w", clientText, sock, dial))
}

// The Docker check gives up on a daemon that does not answer and says what
// is wrong in each case.
func TestPreflight(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	for _, tc := range []struct {
		name string
		info func() error
		want []string // "" = no error
	}{
		{"answers", func() error { return nil }, nil},
		{"wedged", func() error { <-hang; return nil }, []string{"did not answer within 200ms", "docker info", "--provider local"}},
		{"permission denied", func() error {
			return dialError(syscall.EACCES, "permission denied while trying to connect to the Docker daemon socket at")
		}, []string{"no permission", "docker group", "--provider local"}},
		{"not running", func() error {
			return dialError(syscall.ECONNREFUSED, "Cannot connect to the Docker daemon at")
		}, []string{"not reachable", "start Docker", "--provider local"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Runtime: infoRuntime{newFakeRuntime(), tc.info}, DockerTimeout: 200 * time.Millisecond})
			start := time.Now()
			err := p.Preflight(context.Background())
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s", took)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var du *DockerUnavailableError
			if !errors.As(err, &du) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line DockerUnavailableError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
		})
	}
	// Ctrl-C while waiting is not a Docker problem.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := New(Options{Runtime: infoRuntime{newFakeRuntime(), func() error { <-hang; return nil }}})
	if err := p.Preflight(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// The SDK's real Docker runtime against a socket that accepts and never
// answers (a daemon that is starting or wedged): Info blocks for ever, the
// check does not.
func TestPreflightWedgedDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CLIENT_TIMEOUT", "1") // the CLI's own ping on client setup

	p := New(Options{DockerTimeout: 2 * time.Second})
	start := time.Now()
	err = p.Preflight(context.Background())
	var du *DockerUnavailableError
	if !errors.As(err, &du) || du.Timeout != 2*time.Second {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

// writeDockerContext makes a docker CLI context in the config dir dir, as
// 'docker context create NAME --docker host=HOST' does.
func writeDockerContext(t *testing.T, dir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	meta := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(meta, 0o700); err != nil {
		t.Fatal(err)
	}
	js := fmt.Sprintf(`{"Name":%q,"Metadata":{},"Endpoints":{"docker":{"Host":%q,"SkipTLSVerify":false}}}`, name, host)
	if err := os.WriteFile(filepath.Join(meta, "meta.json"), []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A daemon on another machine is refused before anything is made: the
// clusters' API ports would be published there, not on 127.0.0.1 here.
func TestRemoteDockerRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		host       string // DOCKER_HOST
		context    string // current context in the CLI config
		contextEnv string // DOCKER_CONTEXT
		remote     string // "" = accepted
	}{
		{"default socket", "", "", "", ""},
		{"unix socket", "unix:///run/user/1000/docker.sock", "", "", ""},
		{"loopback tcp", "tcp://127.0.0.1:2375", "", "", ""},
		{"localhost ssh", "ssh://me@localhost", "", "", ""},
		{"remote tcp", "tcp://192.0.2.7:2376", "", "", "tcp://192.0.2.7:2376"},
		{"remote ssh", "ssh://me@build-box", "", "", "ssh://me@build-box"},
		{"remote context", "", "build", "", "ssh://me@build-box"},
		{"remote context by env", "", "", "build", "ssh://me@build-box"},
		{"DOCKER_HOST beats the context", "unix:///var/run/docker.sock", "build", "", ""},
		{"local context", "", "desktop", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := t.TempDir()
			writeDockerContext(t, cfg, "build", "ssh://me@build-box")
			writeDockerContext(t, cfg, "desktop", "unix:///home/me/.docker/run/docker.sock")
			if tc.context != "" {
				if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"`+tc.context+`"}`), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("DOCKER_CONFIG", cfg)
			t.Setenv("DOCKER_HOST", tc.host)
			t.Setenv("DOCKER_CONTEXT", tc.contextEnv)
			err := New(Options{EnvName: "dstload"}).Validate()
			if tc.remote == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RemoteDockerError
			if !errors.As(err, &re) || re.Host != tc.remote || !strings.Contains(err.Error(), "DOCKER_HOST") {
				t.Fatalf("got %v, want the remote daemon %s refused", err, tc.remote)
			}
		})
	}
	t.Run("unknown context", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("DOCKER_CONTEXT", "nosuch")
		if err := New(Options{}).Validate(); err == nil || !strings.Contains(err.Error(), "docker context ls") {
			t.Fatalf("got %v", err)
		}
	})
}
