package local

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dstload/dstload/provision"
)

// DestinationHint tells the user how to add a destination controller.
const DestinationHint = "add one with 'dstload up --provider local --destination-bin PATH' (a Linkerd controller binary) or 'dstload up --provider local --destination-addr HOST:PORT' (one that already runs)"

// StartDestination runs Linkerd's destination controller as a supervised
// host process (or records an external address). Environment.Up calls it
// after the stack hook, because the real controller needs the Linkerd CRDs.
// When the controller image cannot be pulled and no flag names another
// controller, the cluster stays up and the user is told how to add one.
func (p *Provider) StartDestination(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	c := st.Cluster("")
	if c == nil {
		return fmt.Errorf("no cluster recorded")
	}
	if p.opts.NoDestination {
		return nil
	}
	// A supervised controller other than the one asked for is replaced.
	if rec := st.Process("", Destination); rec != nil && (p.opts.DestinationAddr != "" ||
		(p.opts.DestinationBin != "" && (len(rec.Cmdline) == 0 || rec.Cmdline[0] != p.opts.DestinationBin))) {
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
		return save(st)
	}
	ps := envPaths(env.Dir)
	hc := &http.Client{Timeout: 2 * time.Second}
	if rec := st.Process("", Destination); rec != nil && alive(*rec) {
		return waitHealthy(ctx, hc, *rec, p.opts.ReadyTimeout)
	}
	bin := p.opts.DestinationBin
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
	grpcAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	adminAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	argv := DestinationArgs(bin, filepath.Join(ps.config, "destination.kubeconfig"), grpcAddr, adminAddr)
	// The controller reads HOSTNAME (its leader-election identity) and
	// exits without it; shells do not export it.
	procEnv := append(os.Environ(), "HOSTNAME=dstload-destination-"+env.Name)
	env.Progressf("starting destination controller %s", bin)
	proc, err := startProcess(Destination, "", argv, procEnv, filepath.Join(ps.logs, Destination+".log"))
	if err != nil {
		return err
	}
	proc.Addr, proc.HealthURL = grpcAddr, "http://"+adminAddr+"/ready"
	proc.Ports = map[string]int{"grpc": ports[0], "admin": ports[1]}
	st.SetProcess(proc)
	c.DestinationAddr, c.DestinationAdminAddr, c.DestinationSource = grpcAddr, adminAddr, "process"
	if err := save(st); err != nil {
		return err
	}
	return waitHealthy(ctx, hc, proc, p.opts.ReadyTimeout)
}

// DestinationArgs is the command line of a locally run destination
// controller, mirroring the chart's container args
// (linkerd-integration.md section 2) with loopback addresses.
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
	}
}
