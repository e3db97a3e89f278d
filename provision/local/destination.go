package local

import (
	"context"
	"fmt"
	"net/http"

	"slices"
	"strings"
	"time"

	"github.com/dstload/dstload/provision"
)

// DestinationHint tells the user how to add a destination controller.
// DestinationBinEnv, when set, is the Linkerd controller binary a local
// `up` runs when neither --destination-bin nor --destination-addr is
// given: a machine that cannot pull Linkerd's image says so once.
const DestinationBinEnv = "DSTLOAD_DESTINATION_BIN"

const DestinationHint = "add one with 'dstload up --provider local --destination-bin PATH' (a Linkerd controller binary) or 'dstload up --provider local --destination-addr HOST:PORT' (one that already runs)"

// StartDestination runs Linkerd's destination controller as a supervised
// host process (or records an external address), then Prometheus when
// monitoring is on (it scrapes the controller's admin address, known only
// now). Lifecycle.Up calls it after the stack hook, because the real
// controller needs the Linkerd CRDs.
func (p *Provider) StartDestination(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if err := p.startDestination(ctx, env, st, save); err != nil {
		return err
	}
	if d, err := loadData(st); err != nil {
		return err
	} else if d.Clusters > 1 && !p.opts.NoDestination {
		if err := p.startTargetControllers(ctx, env, st, save, d); err != nil {
			return err
		}
	}
	return p.ensurePrometheus(ctx, env, st, save)
}

// startDestination runs the controller under test, the source's (the only
// cluster's). When its image cannot be pulled and no flag names another
// controller, the cluster stays up and the user is told how to add one.
func (p *Provider) startDestination(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	c := st.Cluster("")
	if c == nil {
		return fmt.Errorf("no cluster recorded")
	}
	if p.opts.NoDestination {
		return nil
	}
	want, args := p.wantDestination(c)
	// A supervised controller other than the one asked for (another
	// binary, other flags, or an external address instead) is replaced.
	if rec := st.Process("", Destination); rec != nil && (p.opts.DestinationAddr != "" || p.opts.DestinationRestart ||
		(want != "" && (c.DestinationBin != want || !slices.Equal(c.DestinationArgs, args)))) {
		env.Progressf("stopping destination controller (pid %d)", rec.PID)
		if err := stopProcess(ctx, *rec, 10*time.Second); err != nil {
			return err
		}
		st.RemoveProcess("", Destination)
		c.DestinationAddr, c.DestinationAdminAddr, c.DestinationSource = "", "", ""
		if err := save(st); err != nil {
			return err
		}
	}
	if p.opts.DestinationAddr != "" {
		c.DestinationAddr, c.DestinationAdminAddr, c.DestinationSource = p.opts.DestinationAddr, "", "external"
		c.DestinationBin, c.DestinationArgs = "", nil
		return save(st)
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	if rec := st.Process("", Destination); rec != nil && alive(*rec) {
		return waitHealthy(ctx, hc, *rec, p.opts.ReadyTimeout)
	}
	bin := want
	if bin == "" {
		ref := p.opts.DestinationImage
		if ref == "" {
			ref = DefaultDestinationImage
		}
		cache := p.opts.ImageCacheDir
		if cache == "" {
			var err error
			if cache, err = DefaultImageCacheDir(); err != nil {
				return err
			}
		}
		path, err := ControllerFromImage(ctx, ref, cache, env.Progress)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			env.Log.Debug("no destination controller", "image", ref, "error", err)
			env.Progressf("no destination controller: %s", trimLog(err.Error()))
			env.Progressf("the cluster is up; %s", DestinationHint)
			c.DestinationAddr, c.DestinationAdminAddr, c.DestinationSource = "", "", ""
			return save(st)
		}
		bin = path
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	l := layout{paths: envPaths(env.Dir)}
	dc := destination(l, destinationRun{bin: bin, args: args, grpc: ports[0], admin: ports[1], envName: env.Name})
	proc, err := startComponent(ctx, env, st, save, l, dc, "", "starting destination controller "+bin)
	if err != nil {
		return err
	}
	c.DestinationAddr, c.DestinationAdminAddr, c.DestinationSource = dc.addr, loopback(ports[1]), "process"
	// The binary as asked for (or the cached image's), so that a later
	// `up` restarts the same controller with the same flags.
	c.DestinationBin, c.DestinationArgs = want, args
	if err := save(st); err != nil {
		return err
	}
	return waitHealthy(ctx, hc, proc, p.opts.ReadyTimeout)
}

// destinationRun is what a start of the destination controller decides:
// the binary, its extra flags and the two ports.
type destinationRun struct {
	bin         string
	args        []string
	grpc, admin int
	envName     string
}

// destination is Linkerd's destination controller as a host process. It
// starts after the stack (it needs the Linkerd CRDs), on ports picked then.
func destination(l layout, r destinationRun) component {
	grpcAddr, adminAddr := loopback(r.grpc), loopback(r.admin)
	return component{
		name: Destination,
		argv: append(DestinationArgs(r.bin, l.kubeconfigPath("destination"), grpcAddr, adminAddr), r.args...),
		// The controller reads HOSTNAME (its leader-election identity) and
		// exits without it; shells do not export it.
		env:  []string{"HOSTNAME=dstload-destination-" + r.envName},
		addr: grpcAddr, health: "http://" + adminAddr + "/ready",
		ports: map[string]int{"grpc": r.grpc, "admin": r.admin},
		// Linkerd's destination controller needs cluster-wide reads, leases
		// and endpointslices (the chart's RBAC); admin covers it.
		clients:    []clientIdentity{{"destination", "linkerd-destination", []string{"system:masters"}}},
		kubeconfig: "destination",
	}
}

// NeedsChange reports whether an environment that is up lacks the
// destination controller or the monitoring these options ask for (a second
// `up` with --destination-bin or --destination-addr adds or replaces the
// controller; one without --monitoring stops Prometheus), or the second
// cluster.
func (p *Provider) NeedsChange(st *provision.State) bool {
	c := st.Cluster("")
	if c == nil {
		return false
	}
	// Monitoring turned on or off (or another Prometheus binary).
	if p.monitoringChange(st) {
		return true
	}
	// `up --clusters 2` on one cluster adds the target.
	if d, err := loadData(st); err == nil && p.opts.Clusters > max(d.Clusters, 1) {
		return true
	}
	switch {
	case p.opts.DestinationRestart && p.opts.DestinationAddr == "":
		return true
	case p.opts.DestinationAddr != "":
		return c.DestinationSource != "external" || c.DestinationAddr != p.opts.DestinationAddr
	case p.opts.DestinationBin != "" || p.opts.DestinationArgsSet:
		bin, args := p.wantDestination(c)
		return st.Process("", Destination) == nil || c.DestinationBin != bin || !slices.Equal(c.DestinationArgs, args)
	}
	return false
}

// wantDestination is the controller binary and extra flags this `up` asks
// for: the flags given, else what the environment recorded (so that `up`
// after a crash restarts the same controller). An empty binary means the
// image's controller.
func (p *Provider) wantDestination(c *provision.Cluster) (bin string, args []string) {
	bin, args = p.opts.DestinationBin, p.opts.DestinationArgs
	if bin == "" && c.DestinationSource != "external" {
		bin = c.DestinationBin
	}
	if !p.opts.DestinationArgsSet && p.opts.DestinationBin == "" {
		args = c.DestinationArgs
	}
	if len(args) == 0 {
		args = nil
	}
	return bin, args
}

// reservedDestinationFlags are set by dstload; overriding them would break
// what the environment records (addresses, kubeconfig).
var reservedDestinationFlags = []string{"addr", "metrics-addr", "kubeconfig", "controller-namespace"}

// checkDestinationArgs validates --destination-arg values.
func checkDestinationArgs(args []string) error {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || strings.TrimLeft(a, "-") == "" {
			return fmt.Errorf("--destination-arg %q is not a flag: give one controller flag per --destination-arg, e.g. --destination-arg=-stream-queue-capacity=1", a)
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if slices.Contains(reservedDestinationFlags, name) {
			return fmt.Errorf("--destination-arg %q: dstload sets -%s itself; drop it", a, name)
		}
	}
	return nil
}

// DestinationArgs is the command line of a locally run destination
// controller, mirroring the linkerd-control-plane chart's container args
// with loopback addresses.
func DestinationArgs(bin, kubeconfig, grpcAddr, adminAddr string) []string {
	return []string{bin, "destination",
		"-kubeconfig=" + kubeconfig,
		"-addr=" + grpcAddr,
		"-metrics-addr=" + adminAddr,
		"-controller-namespace=linkerd",
		"-enable-endpoint-slices=true",
		"-cluster-domain=cluster.local",
		"-identity-trust-domain=cluster.local",
		"-outbound-transport-mode=transport-header",
		"-enable-h2-upgrade=true",
		"-enable-ipv6=false",
		"-default-opaque-ports=25,587,3306,4444,5432,6379,9300,11211",
		"-log-level=info",
		// The chart's enablePprof (off by default there): dstload's heap
		// profiles need it, and this admin server listens on loopback.
		"-enable-pprof",
	}
}
