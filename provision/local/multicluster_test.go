package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dstload/dstload/internal/testutil"
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/provision/local/localtest"
)

// TestTwoClustersInterruptedUp: an up of a source and a target stopped
// while the target's control plane starts leaves a state that a second up
// resumes (keeping the source's processes) into two healthy clusters, each
// with its own processes, ports and kubeconfig, and that down removes
// completely.
func TestTwoClustersInterruptedUp(t *testing.T) {
	localtest.RequireBinaries(t)
	reg := provision.NewRegistry()
	reg.Register(local.ProviderName, func(cfg provision.Config) (provision.Provider, error) {
		return local.New(local.Options{Nodes: 1, BinDir: os.Getenv(local.BinDirEnv), NoDestination: true, Clusters: cfg.Clusters}), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	target := local.TargetName("two")
	e := &provision.Lifecycle{
		Env:       provision.Env{Name: "two", Dir: filepath.Join(t.TempDir(), "two"), Log: testutil.Discard(), Progress: &cancelOn{substr: "starting " + target + " " + local.APIServer, cancel: cancel}},
		Providers: reg,
	}
	t.Cleanup(func() { localtest.Stop(t, e) })
	if _, err := e.Up(ctx, local.ProviderName, provision.Config{Clusters: 2}); !errors.Is(err, provision.ErrInterrupted) {
		t.Fatalf("interrupted up: %v, want ErrInterrupted", err)
	}
	st, err := provision.LoadState(e.Env.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Process(target, local.Etcd) == nil || st.Process("", local.Kwok) == nil {
		t.Fatalf("recorded %+v: want the source's control plane and the target's etcd", st.Processes)
	}

	e.Env.Progress = nil
	res, err := e.Up(context.Background(), local.ProviderName, provision.Config{})
	if err != nil || !res.Resumed {
		t.Fatalf("resume: %v (resumed %v)", err, res != nil && res.Resumed)
	}
	for _, p := range st.Processes {
		if p.Cluster == "" && res.State.Process("", p.Name).PID != p.PID {
			t.Errorf("source's %s restarted by the resume although it ran", p.Name)
		}
	}
	src, tgt := res.State.Cluster("two"), res.State.Cluster(target)
	if src == nil || tgt == nil || src.Server == tgt.Server || src.Kubeconfig == tgt.Kubeconfig {
		t.Fatalf("clusters %+v: want two with their own API servers and kubeconfigs", res.State.Clusters)
	}
	rep, err := e.Status(context.Background())
	if err != nil || !rep.Healthy {
		t.Fatalf("status after resume: %v %+v", err, rep)
	}
	perCluster := map[string]int{}
	for _, c := range rep.Components {
		if c.PID > 0 {
			perCluster[c.Cluster]++
		}
	}
	if perCluster[""] != 5 || perCluster[target] != 5 {
		t.Errorf("processes per cluster %v, want 5 each", perCluster)
	}

	all := res.State.Processes
	if _, err := e.Down(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if local.Alive(p) {
			t.Errorf("%s/%s survived down", p.Cluster, p.Name)
		}
	}
	if _, err := os.Stat(e.Env.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("environment dir after down: %v", err)
	}
}
