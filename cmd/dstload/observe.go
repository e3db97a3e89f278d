package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/workload/admin"
	"github.com/dstload/dstload/workload/eventfeed"
	"github.com/dstload/dstload/workload/observer"
	"github.com/dstload/dstload/workload/procstat"
	"github.com/dstload/dstload/workload/record"
)

func newObserveCmd(a *app) *cobra.Command {
	var (
		kf          = newKubeFlags()
		services    []string
		portName    string
		eventsURL   string
		adminAddr   string
		recordsFile string
		canary      time.Duration
		etcd        etcdFlags
	)
	cmd := &cobra.Command{
		Use:   "observe",
		Short: "Watch the targets' EndpointSlices and record every endpoint change",
		Long: `Watches the EndpointSlices of --services in --namespace and records when
each endpoint became ready or gone; with --events-url (churn's /events feed)
also when the cluster reached each scale event's target.

This is the reference clock of every update latency. 'dstload run' starts
it as a process of its own on the local provider, so that the client
streams cannot delay it. It prints "observe admin=ADDR" once its initial
state is recorded, serves /metrics, /ready, /live and /records there, and
writes --records-file when stopped (SIGTERM or Ctrl-C).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, s := range services {
				if s = strings.TrimSpace(s); s != "" {
					names = append(names, s)
				}
			}
			if len(names) == 0 {
				return usageErrorf("--services is required: the Services (comma-separated) whose EndpointSlices to observe")
			}
			if canary < 0 {
				return usageErrorf("--canary-interval %s: use 0 (off) or a positive interval such as 100ms", canary)
			}
			namespace, err := kf.namespace()
			if err != nil {
				return err
			}
			return runObserve(cmd.Context(), a, kf, etcd, namespace, names, portName, eventsURL, adminAddr, recordsFile, canary)
		},
	}
	kf.add(cmd)
	fs := cmd.Flags()
	fs.StringSliceVar(&services, "services", nil, "Services to observe (in -n), comma-separated or repeated")
	fs.StringVar(&portName, "port-name", "", "EndpointSlice port to report (default: each slice's first)")
	fs.StringVar(&eventsURL, "events-url", "", "churn's event feed (http://HOST:PORT), for the cluster's convergence per event")
	fs.StringVar(&adminAddr, "metrics-addr", "127.0.0.1:0", "admin HTTP address (/metrics /ready /live /records)")
	fs.StringVar(&recordsFile, "records-file", "", "write the records here when stopping")
	fs.StringVar(&etcd.endpoint, "etcd-endpoint", "", "follow the slices and pod deletions in this etcd (https://HOST:PORT) instead of the API server's watch: the local provider's reference clock, ahead of every API watcher")
	fs.StringVar(&etcd.ca, "etcd-ca", "", "CA file of --etcd-endpoint")
	fs.StringVar(&etcd.cert, "etcd-cert", "", "client certificate file for --etcd-endpoint")
	fs.StringVar(&etcd.key, "etcd-key", "", "client key file for --etcd-endpoint")
	fs.StringVar(&etcd.prefix, "etcd-prefix", "/registry", "the API server's --etcd-prefix")
	fs.DurationVar(&canary, "canary-interval", 0, "write a canary EndpointSlice this often and time how long after the API server's answer the watch delivers it, the bound on the observer's own lag (0: off; needs create/update/delete on EndpointSlices)")
	return cmd
}

func runObserve(ctx context.Context, a *app, kf kubeFlags, etcd etcdFlags, namespace string, services []string, portName, eventsURL, adminAddr, recordsFile string, canary time.Duration) error {
	kf.protobuf = true
	cs, err := kf.clientset()
	if err != nil {
		return err
	}
	meter := procstat.Start(ctx, "observer")
	reg := newRegistry()
	obs := observer.New(a.log, reg, namespace, services, portName)
	// The process record exists once the observer stopped measuring.
	var final atomic.Pointer[record.ProcessStat]
	records := func() record.Set {
		s := obs.Records()
		if p := final.Load(); p != nil {
			s.Processes = []record.ProcessStat{*p}
		}
		return s
	}
	source := "api"
	if etcd.endpoint != "" {
		src, closeEtcd, err := etcd.source()
		if err != nil {
			return err
		}
		defer closeEtcd()
		if err := obs.StartEtcd(ctx, src, cs); err != nil {
			return fmt.Errorf("observer: %w", err)
		}
		source = "etcd"
	} else if err := obs.Start(ctx, cs); err != nil {
		return fmt.Errorf("observer: %w", err)
	}
	actx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	// /ready-endpoints is the count alone: `dstload run` polls it every
	// half second while it waits, and a /metrics scrape costs the observer
	// more than it should at that rate.
	count := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, obs.ReadyEndpoints())
	})
	missed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, obs.KubeMissed())
	})
	// /ready-set?service=ns/name lists one service's ready endpoints, for
	// the progress lines that name stale and missing endpoints.
	readySet := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, a := range obs.ReadySet(r.URL.Query().Get("service")) {
			fmt.Fprintln(w, a)
		}
	})
	addr, _, err := admin.Serve(actx, a.log, adminAddr, admin.Handlers{Registry: reg, Ready: obs.Ready, Records: records,
		Extra: map[string]http.Handler{"GET /ready-endpoints": count, "GET /kube-missed": missed, "GET /ready-set": readySet}}.Mux())
	if err != nil {
		return err
	}
	if eventsURL != "" {
		go eventfeed.Follow(ctx, a.log, eventsURL, obs.Expect)
	}
	canaryDone := make(chan struct{})
	if canary > 0 {
		go func() { defer close(canaryDone); obs.RunCanary(ctx, cs, canary) }()
	} else {
		close(canaryDone)
	}
	fmt.Fprintf(a.out, "observe admin=%s\n", addr)
	<-ctx.Done()
	<-canaryDone
	obs.Finish()
	st := meter.Stop()
	c := obs.Canary()
	st.WatchDelays, st.WatchDelayP50, st.WatchDelayP99, st.WatchDelayMax = c.Count, c.P50, c.P99, c.Max
	st.Source = source
	if d := obs.APIDelivery(); d.Count > 0 {
		st.APIDelays, st.APIDelayP50, st.APIDelayP99, st.APIDelayMax = d.Count, d.P50, d.P99, d.Max
	}
	final.Store(&st)
	if recordsFile != "" {
		return writeRecordsFile(recordsFile, records())
	}
	return nil
}
