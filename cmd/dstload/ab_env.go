package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/workload/ab"
)

// abEnv is everything `dstload ab` needs from provision, kept in this one
// file: the environment, swapping its supervised destination controller
// through the same Environment.Up path as `dstload up --destination-bin
// --destination-arg`, and putting the original controller back at the end.
type abEnv struct {
	a        *app
	st       *provision.State
	cl       provision.Cluster // as it was before the A/B
	swapped  bool
	progress io.Writer
}

// abEnvironment loads the environment; ab runs on the local provider only,
// where dstload supervises the controller it swaps.
func (a *app) abEnvironment() (*abEnv, error) {
	st, cl, err := a.runCluster()
	if err != nil {
		return nil, err
	}
	if st.Provider != local.ProviderName {
		return nil, usageErrorf("dstload ab runs on the local provider; environment %q is %s: make one with 'dstload up --provider local --name NAME'", a.envName, st.Provider)
	}
	return &abEnv{a: a, st: st, cl: *cl, progress: io.Discard}, nil
}

// abSide reads --a/--b: an executable file is a controller binary for
// dstload to run; HOST:PORT is a controller the user runs.
func abSide(flag, value string, args []string, metrics string) (ab.Side, error) {
	if value == "" {
		return ab.Side{}, usageErrorf("--%s is required: a Linkerd controller binary, or HOST:PORT of a destination controller you run", flag)
	}
	if fi, err := os.Stat(value); err == nil {
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return ab.Side{}, usageErrorf("--%s %s is not an executable file: give a Linkerd controller binary", flag, value)
		}
		if metrics != "" {
			return ab.Side{}, usageErrorf("--%s-metrics is for a controller you run (--%s HOST:PORT); dstload finds the metrics of %s itself", flag, flag, value)
		}
		// The provider's own checks of --destination-bin/--destination-arg.
		if err := local.New(local.Options{DestinationBin: value, DestinationArgs: args}).Validate(); err != nil {
			return ab.Side{}, usageErrorf("%s", strings.ReplaceAll(err.Error(), "--destination-arg", "--"+flag+"-arg"))
		}
		return ab.Side{Bin: value, Args: args}, nil
	}
	if host, port, err := net.SplitHostPort(value); err == nil && host != "" {
		if _, perr := strconv.Atoi(port); perr == nil {
			if len(args) > 0 {
				return ab.Side{}, usageErrorf("--%s-arg needs a controller dstload runs; %s is one you run: pass the flags to it", flag, value)
			}
			return ab.Side{Addr: value, MetricsURL: metricsURLOf(metrics)}, nil
		}
	}
	return ab.Side{}, usageErrorf("--%s %s: no such file, and not HOST:PORT: give a Linkerd controller binary or the address of a controller you run", flag, value)
}

// prepare makes side the controller of the next run: a binary is
// (re)started by Environment.Up with a forced restart, so that every run
// of either side starts from a fresh controller; an address needs nothing.
func (e *abEnv) prepare(ctx context.Context, side ab.Side) error {
	if side.Bin == "" {
		return nil
	}
	e.swapped = true
	return e.up(ctx, provision.Config{DestinationBin: side.Bin, DestinationArgs: side.Args,
		DestinationArgsSet: true, DestinationRestart: true})
}

func (e *abEnv) up(ctx context.Context, cfg provision.Config) error {
	cfg.BinDir = os.Getenv(local.BinDirEnv)
	env := e.a.newLifecycle(nil)
	env.Env.Progress = e.progress
	res, err := env.Up(ctx, local.ProviderName, cfg)
	if err != nil {
		return fmt.Errorf("swap the destination controller: %w", err)
	}
	e.st = res.State
	return nil
}

// destination is where the run's clients and sampler go for side.
func (e *abEnv) destination(side ab.Side) (addr, metricsURL string) {
	if side.Addr != "" {
		return side.Addr, side.MetricsURL
	}
	cl := e.st.Cluster("")
	return cl.DestinationAddr, metricsURLOf(cl.DestinationAdminAddr)
}

func (e *abEnv) kube() (kubeconfig, context string) { return e.cl.Kubeconfig, e.cl.Context }

// restore puts back the controller the environment had before the A/B
// (even after Ctrl-C: with a context of its own).
func (e *abEnv) restore() error {
	if !e.swapped {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	switch e.cl.DestinationSource {
	case "process":
		if e.cl.DestinationBin == "" {
			return fmt.Errorf("the environment ran the controller of the default image before the A/B and now runs the last side's; 'dstload up --provider local --destination-bin PATH' picks another")
		}
		return e.up(ctx, provision.Config{DestinationBin: e.cl.DestinationBin, DestinationArgs: e.cl.DestinationArgs, DestinationArgsSet: true})
	case "external":
		return e.up(ctx, provision.Config{DestinationAddr: e.cl.DestinationAddr})
	}
	return nil // it had none; B's stays
}
