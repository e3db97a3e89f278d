package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/k3d"
)

func TestChooseProvider(t *testing.T) {
	recorded := t.TempDir()
	if err := provision.SaveState(recorded, &provision.State{Provider: "kubeconfig"}); err != nil {
		t.Fatal(err)
	}
	docker := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	noDocker := &k3d.DockerUnavailableError{Err: errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")}
	tests := []struct {
		name   string
		envDir string
		flags  []string
		check  func(context.Context) error
		want   string
		why    string
	}{
		{"recorded", recorded, nil, docker(nil), "kubeconfig", "recorded provider"},
		{"docker answers", "", nil, docker(nil), "k3d", "Docker daemon answers"},
		{"no docker", "", nil, docker(noDocker), "local", "Docker is not reachable: dial unix"},
		{"wedged docker", "", nil, docker(&k3d.DockerUnavailableError{Err: context.DeadlineExceeded, Timeout: 5 * time.Second}), "local", "did not answer within 5s"},
		{"destination-bin", "", []string{"--destination-bin", "/x"}, docker(nil), "local", "local's"},
		{"context", "", []string{"--context", "kind-kind"}, docker(nil), "kubeconfig", "existing cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newUpCmd(&app{})
			if err := cmd.ParseFlags(tt.flags); err != nil {
				t.Fatal(err)
			}
			dir := tt.envDir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "none")
			}
			got, why, err := chooseProvider(context.Background(), cmd, dir, tt.check)
			if err != nil || got != tt.want || !strings.Contains(why, tt.why) || strings.Contains(why, "\n") {
				t.Errorf("got %q %q %v; want %q and a reason with %q", got, why, err, tt.want, tt.why)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := chooseProvider(ctx, newUpCmd(&app{}), t.TempDir(), docker(context.Canceled)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
