package local

import (
	"context"
	"net/http"
	"time"

	"github.com/dstload/dstload/provision"
)

// Names of the multicluster processes. They run Linkerd's service-mirror,
// the program the linkerd-multicluster chart's controller-<link> and
// linkerd-local-service-mirror Deployments run, from the same controller
// binary as the destination controller.
const (
	ServiceMirror      = "service-mirror"
	LocalServiceMirror = "local-service-mirror"
)

// MulticlusterNamespace holds the Link, the service-mirror's copy of the
// credentials and its leases (the chart's release namespace).
const MulticlusterNamespace = "linkerd-multicluster"

// startTargetControllers runs, once the link exists (the stack hook made
// it), what a linked pair of clusters runs besides the control planes: the
// target's own destination controller, and on the source Linkerd's
// service-mirror for the link and its local mirror (federated members of
// the source). All take the binary of the source's controller; with none
// (an external --destination-addr, or no controller at all) there is none
// to run them from.
func (p *Provider) startTargetControllers(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc, d *data) error {
	src := st.Process("", Destination)
	if src == nil {
		return nil
	}
	bin := src.Cmdline[0]
	target := clusters(env, d)[1]
	tl := layout{paths: target.paths}
	sl := layout{paths: envPaths(env.Dir)}
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, run := range []struct {
		key string
		l   layout
		c   func(grpc, admin int) component
	}{
		{target.key, tl, func(grpc, admin int) component {
			return destination(tl, destinationRun{bin: bin, grpc: grpc, admin: admin, envName: target.name})
		}},
		{"", sl, func(_, admin int) component { return serviceMirror(sl, bin, admin, env.Name, target.name) }},
		{"", sl, func(_, admin int) component { return serviceMirror(sl, bin, admin, env.Name, "") }},
	} {
		ports, err := freePorts(2)
		if err != nil {
			return err
		}
		c := run.c(ports[0], ports[1])
		rec := st.Process(run.key, c.name)
		if rec != nil && alive(*rec) && rec.Cmdline[0] == bin {
			if err := waitHealthy(ctx, hc, *rec, p.opts.ReadyTimeout); err != nil {
				return err
			}
			continue
		}
		if rec != nil {
			if err := stopProcess(ctx, *rec, 10*time.Second); err != nil {
				return err
			}
			st.RemoveProcess(run.key, c.name)
		}
		proc, err := startComponent(ctx, env, st, save, run.l, c, run.key, "starting "+clusterPrefix(run.key)+c.name)
		if err != nil {
			return err
		}
		if c.name == Destination {
			t := st.Cluster(target.name)
			t.DestinationAddr, t.DestinationAdminAddr, t.DestinationSource = c.addr, loopback(ports[1]), "process"
			t.DestinationBin = bin
			if err := save(st); err != nil {
				return err
			}
		}
		if err := waitHealthy(ctx, hc, proc, p.opts.ReadyTimeout); err != nil {
			return err
		}
	}
	return nil
}

// serviceMirror is Linkerd's service-mirror on the source, with the chart's
// container flags: for the link to target, or (target "") the local mirror
// that adds the source's own federated members. It acts with the
// destination controller's identity (cluster-wide; the chart gives it
// Services, Endpoints, Namespaces, Links and leases).
func serviceMirror(l layout, bin string, admin int, envName, target string) component {
	adminAddr := loopback(admin)
	name, argv := ServiceMirror, []string{bin, "service-mirror",
		"-kubeconfig=" + l.kubeconfigPath("destination"),
		"-namespace=" + MulticlusterNamespace,
		"-metrics-addr=" + adminAddr,
		"-log-level=info",
		"-event-requeue-limit=3",
		// The mirror of a Service goes into its namespace, which the load's
		// targets make in the target only.
		"-enable-namespace-creation",
	}
	if target == "" {
		name, argv = LocalServiceMirror, append(argv, "-local-mirror")
	} else {
		argv = append(argv, "-probe-service=probe-"+target, target)
	}
	return component{
		name: name, argv: argv,
		// Its leader-election identity, as the destination controller's.
		env:  []string{"HOSTNAME=dstload-" + name + "-" + envName},
		addr: adminAddr, health: "http://" + adminAddr + "/ready",
		ports: map[string]int{"admin": admin},
	}
}
