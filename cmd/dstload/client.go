package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/client"
	"github.com/dstload/dstload/workload/eventfeed"
)

func newClientCmd(a *app) *cobra.Command {
	var (
		kf          = newKubeFlags()
		o           client.Options
		selector    string
		services    []string
		port        uint32
		eventsURL   string
		adminAddr   string
		recordsFile string
	)
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Hold Destination.Get streams like Linkerd proxies and record what they receive",
		Long: `Opens --streams-per-service concurrent Destination.Get streams per target
Service over --connections shared HTTP/2 connections, with the context
token proxies send ({"ns","nodeName","pod"} from POD_NAMESPACE, NODE_NAME,
POD_NAME). Each stream keeps its endpoint set from Add/Remove updates,
reconnects with capped exponential backoff and counts errors and resets by
cause. Services come from --services, or from --selector (listed once at
start; the client never changes Services, Pods or EndpointSlices).

With --events-url (churn's admin URL) the client follows churn's scale
events and records, per stream and event, the first change and the
convergence (set size == target). Receipts of every address are recorded
for --sample-streams streams (-1: all).

The admin port serves /metrics, /ready (every stream opened), /live and
/records.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.StreamsPerService < 1:
				return usageErrorf("--streams-per-service must be at least 1, got %d", o.StreamsPerService)
			case o.Connections < 1:
				return usageErrorf("--connections must be at least 1, got %d", o.Connections)
			case o.Lifetime < 0 || o.LifetimeJitter < 0:
				return usageErrorf("--lifetime and --lifetime-jitter must not be negative")
			case o.LifetimeJitter > 0 && o.Lifetime == 0:
				return usageErrorf("--lifetime-jitter needs --lifetime: set a stream lifetime or drop the jitter")
			case o.BackoffMin <= 0 || o.BackoffMax < o.BackoffMin:
				return usageErrorf("backoff needs 0 < --backoff-min <= --backoff-max, got %s and %s", o.BackoffMin, o.BackoffMax)
			case o.SampleStreams < -1:
				return usageErrorf("--sample-streams must be -1 (all), 0 (none) or a count, got %d", o.SampleStreams)
			}
			if err := o.ValidateLoad(); err != nil {
				return usageErrorf("%v", err)
			}
			if o.Addr == "" {
				return usageErrorf("--destination-addr is required: the destination service's host:port")
			}
			namespace, err := kf.namespace()
			if err != nil {
				return err
			}
			if (selector == "") == (len(services) == 0) {
				return usageErrorf("give exactly one of --selector or --services")
			}
			if port == 0 || port > 65535 {
				return usageErrorf("invalid --port %d: use 1-65535", port)
			}
			for _, s := range services {
				ns, name, ok := strings.Cut(s, "/")
				if !ok {
					ns, name = namespace, s
				}
				if ns == "" || name == "" {
					return usageErrorf("invalid service %q in --services: use name or namespace/name", s)
				}
				o.Services = append(o.Services, client.Service{Namespace: ns, Name: name, Port: port})
			}
			if eventsURL != "" {
				if u, err := url.Parse(eventsURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usageErrorf("invalid --events-url %q: use churn's admin URL, e.g. http://127.0.0.1:9102", eventsURL)
				}
			}
			if o.Name == "" {
				o.Name, _ = os.Hostname()
			}
			return runClient(cmd.Context(), a, kf, o, namespace, selector, port, eventsURL, adminAddr, recordsFile)
		},
	}
	kf.add(cmd)
	fs := cmd.Flags()
	fs.StringVarP(&selector, "selector", "l", "", "label selector of the target Services (in -n)")
	fs.StringSliceVar(&services, "services", nil, "target Services (name or namespace/name), instead of --selector")
	fs.Uint32Var(&port, "port", 80, "Service port asked for")
	fs.StringVar(&o.Addr, "destination-addr", "", "destination gRPC address host:port")
	fs.StringVar(&o.Addr, "destination", "", "")
	_ = fs.MarkDeprecated("destination", "use --destination-addr")
	fs.IntVar(&o.StreamsPerService, "streams-per-service", 1, "concurrent streams per Service")
	fs.IntVar(&o.Connections, "connections", 1, "HTTP/2 connections the streams share")
	fs.DurationVar(&o.Lifetime, "lifetime", 0, "renew each stream after this long (0: never)")
	fs.DurationVar(&o.LifetimeJitter, "lifetime-jitter", 0, "add a random share of this to each lifetime")
	fs.DurationVar(&o.BackoffMin, "backoff-min", client.DefaultBackoffMin, "first reconnect backoff")
	fs.DurationVar(&o.BackoffMax, "backoff-max", client.DefaultBackoffMax, "reconnect backoff cap")
	fs.IntVar(&o.SampleStreams, "sample-streams", 100, "streams that record every address received (-1: all)")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "cluster.local", "cluster domain of the authorities")
	fs.StringVar(&o.Name, "client-name", os.Getenv("POD_NAME"), "this client's name in records (default: POD_NAME, then the host name)")
	fs.StringVar(&o.Token.NS, "token-ns", envOr("POD_NAMESPACE", "default"), "context token namespace")
	fs.StringVar(&o.Token.NodeName, "token-node", os.Getenv("NODE_NAME"), "context token node name")
	fs.StringVar(&o.Token.Pod, "token-pod", os.Getenv("POD_NAME"), "context token pod name")
	fs.StringVar(&eventsURL, "events-url", os.Getenv("DSTLOAD_EVENTS_URL"), "churn's admin URL, whose /events feed gives each scale event's target (env DSTLOAD_EVENTS_URL)")
	// :9991, not churn's :9990: both may run on one host.
	fs.StringVar(&adminAddr, "metrics-addr", ":9991", "admin HTTP address (/metrics /ready /live /records)")
	fs.StringVar(&recordsFile, "records-file", "", "also write the records here when stopping")
	return cmd
}

func runClient(ctx context.Context, a *app, kf kubeFlags, o client.Options, namespace, selector string, port uint32, eventsURL, adminAddr, recordsFile string) error {
	if selector != "" {
		cs, err := kf.clientset()
		if err != nil {
			return err
		}
		list, err := cs.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return fmt.Errorf("list services in %s matching %q: %w", namespace, selector, err)
		}
		for _, s := range list.Items {
			o.Services = append(o.Services, client.Service{Namespace: s.Namespace, Name: s.Name, Port: port})
		}
		if len(o.Services) == 0 {
			return fmt.Errorf("no services in %s match %q", namespace, selector)
		}
	}
	reg := newRegistry()
	c, err := client.New(o, a.log, reg)
	if err != nil {
		return usageErrorf("%v", err)
	}
	actx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	h := admin.Handlers{Registry: reg, Ready: c.Ready, Records: c.Records}
	if _, _, err := admin.Serve(actx, a.log, adminAddr, h.Mux()); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if eventsURL != "" {
		wg.Go(func() { eventfeed.Follow(ctx, a.log, eventsURL, c.OnEvent) })
	} else {
		a.log.Warn("no --events-url: per-event convergence is not recorded, only receipts and counters")
	}
	a.log.Info("opening streams", "destination", o.Addr, "services", len(o.Services), "streams", len(o.Services)*o.StreamsPerService,
		"connections", o.Connections)
	err = c.Run(ctx)
	wg.Wait()
	if err != nil {
		return err
	}
	if recordsFile != "" {
		return writeRecordsFile(recordsFile, c.Records())
	}
	return nil
}
