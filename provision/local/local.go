// Package local is the Docker-free provider: a Kubernetes control plane of
// host processes (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok with fake nodes) and optionally Linkerd's destination
// controller, supervised by dstload. The processes outlive `dstload up`
// (their own sessions; PIDs, start times and command lines in the state
// file) and are stopped by `dstload down`.
//
// Layout under the environment directory:
//
//	kubeconfig        admin kubeconfig (self-contained, 0600)
//	local/pki/        cluster CA, serving and client certificates, SA key
//	local/etcd/       etcd data
//	local/config/     per-component kubeconfigs, kwok stages, scheduler config
//	logs/<name>.log   each process's stdout and stderr
package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
)

// ProviderName is the registry name of this provider.
const ProviderName = "local"

// Defaults and limits.
const (
	DefaultNodes = 3
	// MaxNodes bounds --nodes: each node gets its own /16 pod CIDR out of
	// 10.128.0.0/9.
	MaxNodes = 128
	// DefaultDestinationImage is Linkerd's controller image of the chart
	// version dstload installs.
	DefaultDestinationImage = "cr.l5d.io/linkerd/controller:edge-26.8.3"
)

// advertiseAddress is what the apiserver advertises (see its flags).
const advertiseAddress = "192.0.2.1"

// Names of the supervised processes, in start order.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	Kwok              = "kwok"
	Destination       = "destination"
)

// Fake nodes look like Linkerd's hack/kwok-node.yaml: workloads select them
// with nodeSelector type=kwok and tolerate the taint.
const (
	NodeLabelKey      = "type"
	NodeLabelValue    = "kwok"
	NodeAnnotationKey = "kwok.x-k8s.io/node"
	NodeTaintKey      = "kwok.x-k8s.io/node"
	NodeTaintValue    = "fake"
)

// Options configure the provider.
type Options struct {
	// Nodes is the number of fake nodes (default 3).
	Nodes int
	// BinDir holds all control-plane binaries; "" = PATH, then cache,
	// then build.
	BinDir string
	// CacheDir overrides the binaries cache (default DefaultCacheDir()).
	CacheDir string
	// NoBuild forbids building missing binaries.
	NoBuild bool
	// APIPort fixes the apiserver port on 127.0.0.1; 0 picks a free one.
	APIPort int
	// Destination controller: at most one of Bin and Addr; with neither,
	// Image is pulled and unpacked (default DefaultDestinationImage).
	// NoDestination skips it altogether (tests of the cluster alone).
	DestinationBin   string
	DestinationAddr  string
	DestinationImage string
	NoDestination    bool
	// DestinationArgs are extra controller flags; with DestinationArgsSet
	// false the recorded ones are kept.
	DestinationArgs    []string
	DestinationArgsSet bool
	// DestinationRestart replaces a running controller even when it is
	// the one asked for.
	DestinationRestart bool
	// ImageCacheDir overrides where unpacked controller binaries are kept.
	ImageCacheDir string
	// ReadyTimeout bounds the wait for each component (default 60 s).
	ReadyTimeout time.Duration
	// Clusters must be 0 or 1: the local provider makes one cluster.
	Clusters int
}

// Provider is the local provider.
type Provider struct{ opts Options }

// New returns a local provider.
func New(opts Options) *Provider {
	if opts.Nodes == 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	return &Provider{opts: opts}
}

// Factory adapts New to the provider registry.
func Factory(cfg provision.Config) (provision.Provider, error) {
	return New(Options{
		Nodes:            cfg.Nodes,
		BinDir:           cfg.BinDir,
		APIPort:          cfg.APIPort,
		DestinationBin:   cfg.DestinationBin,
		DestinationAddr:  cfg.DestinationAddr,
		DestinationImage: cfg.DestinationImage,
		Clusters:         cfg.Clusters,

		DestinationArgs:    cfg.DestinationArgs,
		DestinationArgsSet: cfg.DestinationArgsSet,
		DestinationRestart: cfg.DestinationRestart,
	}), nil
}

func (p *Provider) Name() string       { return ProviderName }
func (p *Provider) OwnsClusters() bool { return true }

// Validate checks the options before anything is created.
func (p *Provider) Validate() error {
	o := p.opts
	switch {
	case o.Clusters > 1:
		return fmt.Errorf("provider local makes one cluster, not %d: use --provider k3d for multicluster", o.Clusters)
	case o.Nodes < 1 || o.Nodes > MaxNodes:
		return fmt.Errorf("--nodes %d is out of range: use 1 to %d", o.Nodes, MaxNodes)
	case o.APIPort < 0 || o.APIPort > 65535:
		return fmt.Errorf("--api-port %d is not a port: use 1-65535, or 0 to pick one", o.APIPort)
	case o.DestinationBin != "" && o.DestinationAddr != "":
		return errors.New("--destination-bin and --destination-addr exclude each other: give one")
	}
	if o.DestinationBin != "" && !isExecutable(o.DestinationBin) {
		return fmt.Errorf("--destination-bin %s is not an executable file", o.DestinationBin)
	}
	if o.DestinationAddr != "" && len(o.DestinationArgs) > 0 {
		return errors.New("--destination-arg needs a controller dstload runs: drop --destination-addr, or pass the flags to the controller you run")
	}
	if err := checkDestinationArgs(o.DestinationArgs); err != nil {
		return err
	}
	if o.DestinationAddr != "" {
		if _, port, err := net.SplitHostPort(o.DestinationAddr); err != nil || port == "" {
			return fmt.Errorf("--destination-addr %q is not host:port (e.g. 127.0.0.1:8086)", o.DestinationAddr)
		}
	}
	if o.BinDir != "" {
		if fi, err := os.Stat(o.BinDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--bin-dir %s is not a directory", o.BinDir)
		}
	}
	return nil
}

// data is the provider's record in State.ProviderData: the settings a
// resumed Create must reuse.
type data struct {
	Nodes int            `json:"nodes"`
	Ports map[string]int `json:"ports"`
	Bins  Binaries       `json:"binaries"`
}

func loadData(st *provision.State) (*data, error) {
	return provision.LoadProviderData[data](st, "local")
}

func storeData(st *provision.State, d *data) error { return provision.StoreProviderData(st, d) }

// paths of an environment.
type paths struct {
	root, pki, etcd, config, logs, kubeconfig string
}

func envPaths(envDir string) paths {
	root := filepath.Join(envDir, "local")
	return paths{
		root:       root,
		pki:        filepath.Join(root, "pki"),
		etcd:       filepath.Join(root, "etcd"),
		config:     filepath.Join(root, "config"),
		logs:       filepath.Join(envDir, "logs"),
		kubeconfig: filepath.Join(envDir, "kubeconfig"),
	}
}

// Port names in data.Ports.
const (
	portEtcdClient = "etcd-client"
	portEtcdPeer   = "etcd-peer"
	portAPI        = "apiserver"
	portKCM        = "controller-manager"
	portScheduler  = "scheduler"
	portKwok       = "kwok"
)

// ContextName is the kubeconfig context of an environment's local cluster.
func ContextName(envName string) string { return "dstload-" + envName }

// Create brings the control plane up, or resumes a partial one.
func (p *Provider) Create(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d, err := loadData(st)
	if err != nil {
		return err
	}
	if d.Nodes == 0 {
		d.Nodes = p.opts.Nodes
	}
	bins, err := ResolveBinaries(ctx, ResolveOptions{BinDir: p.opts.BinDir, CacheDir: p.opts.CacheDir, NoBuild: p.opts.NoBuild, Progress: env.Progress})
	if err != nil {
		return err
	}
	d.Bins = bins
	if d.Ports == nil {
		if d.Ports, err = pickPorts(p.opts.APIPort); err != nil {
			return err
		}
	}
	// Everything above only checks; from here on things get made.
	ps := envPaths(env.Dir)
	for _, dir := range []string{ps.root, ps.pki, ps.etcd, ps.config, ps.logs} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := storeData(st, d); err != nil {
		return err
	}
	if err := save(st); err != nil {
		return err
	}

	if _, err := ensurePKI(ps.pki, env.Name); err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(d.Ports[portAPI])
	ctxName := ContextName(env.Name)
	if err := writeKubeconfig(ps.kubeconfig, server, ctxName, ps.pki, "admin", true); err != nil {
		return err
	}
	for _, id := range []string{"controller-manager", "scheduler", "kwok", "destination"} {
		if err := writeKubeconfig(filepath.Join(ps.config, id+".kubeconfig"), server, ctxName, ps.pki, id, false); err != nil {
			return err
		}
	}
	if err := writeKwokConfig(filepath.Join(ps.config, "kwok.yaml")); err != nil {
		return err
	}
	if err := writeSchedulerConfig(filepath.Join(ps.config, "scheduler.yaml"), filepath.Join(ps.config, "scheduler.kubeconfig")); err != nil {
		return err
	}
	// Only the access fields: a resumed Create must keep the record of the
	// destination controller (its binary and flags), which `up` restarts
	// from it.
	cl := provision.Cluster{Name: env.Name}
	if old := st.Cluster(env.Name); old != nil && old.Name == env.Name {
		cl = *old
	}
	cl.Kubeconfig, cl.Context, cl.Server = ps.kubeconfig, ctxName, server
	st.SetCluster(cl)
	if err := save(st); err != nil {
		return err
	}

	hc, err := healthClient(ps.pki)
	if err != nil {
		return err
	}
	comps := components(d, bins, ps)
	// Start everything that is not already running, then wait: the
	// apiserver retries etcd and the others retry the apiserver, so
	// starting them together saves the sum of their start-up times.
	launch := func(c component) error {
		for _, port := range c.ports {
			if err := waitPortFree(ctx, port, 5*time.Second); err != nil {
				return fmt.Errorf("%s: %w; run 'dstload down' and 'dstload up' again (or pick --api-port)", c.name, err)
			}
		}
		env.Progressf("starting %s", c.name)
		proc, err := startProcess(c.name, "", c.argv, os.Environ(), filepath.Join(ps.logs, c.name+".log"))
		if err != nil {
			return err
		}
		proc.Addr, proc.HealthURL, proc.Ports = c.addr, c.health, c.portMap
		st.SetProcess(proc)
		return save(st)
	}
	for _, c := range comps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if rec := st.Process("", c.name); rec != nil && alive(*rec) {
			env.Log.Debug("keeping running process", "name", c.name, "pid", rec.PID)
			continue
		}
		if err := launch(c); err != nil {
			return err
		}
	}
	started := time.Now()
	cs, err := clientset(ps.kubeconfig)
	if err != nil {
		return err
	}
	apiReady := false
	for _, c := range comps {
		err := waitHealthy(ctx, hc, *st.Process("", c.name), p.opts.ReadyTimeout)
		if err != nil && apiReady && ctx.Err() == nil && !alive(*st.Process("", c.name)) {
			// kube-controller-manager gives the apiserver 10 s to become
			// healthy and exits otherwise, which a restarted apiserver
			// (RBAC bootstrap) or a loaded machine can exceed. Now that
			// the apiserver is healthy, one restart tells that apart from
			// a component that cannot start at all.
			env.Log.Warn("component exited while the apiserver started; restarting it", "name", c.name, "err", err)
			if err = launch(c); err == nil {
				err = waitHealthy(ctx, hc, *st.Process("", c.name), p.opts.ReadyTimeout)
			}
		}
		if err != nil {
			return err
		}
		env.Log.Debug("component ready", "name", c.name, "after", time.Since(started))
		if c.name == APIServer {
			apiReady = true
			// Nodes need only the apiserver; kwok picks them up when it
			// comes, so creating them now overlaps with the others' start.
			if err := ensureNodes(ctx, cs, d.Nodes); err != nil {
				return err
			}
			// The controller manager would create the default
			// ServiceAccount (without which pods are refused) only once its
			// controllers run; making it now takes kcm off the critical path.
			if err := ensureDefaultServiceAccount(ctx, cs); err != nil {
				return err
			}
		}
	}
	env.Progressf("control plane ready; waiting for %d fake nodes", d.Nodes)
	if err := waitClusterReady(ctx, env.Log, cs, d.Nodes, p.opts.ReadyTimeout); err != nil {
		return err
	}
	env.Log.Debug("cluster ready", "nodes", d.Nodes, "after", time.Since(started))
	return save(st)
}

type component struct {
	name    string
	argv    []string
	addr    string
	health  string
	ports   []int
	portMap map[string]int
}

func components(d *data, bins Binaries, ps paths) []component {
	pki := func(name string) string { return filepath.Join(ps.pki, name) }
	cfg := func(name string) string { return filepath.Join(ps.config, name) }
	url := func(scheme string, port int, path string) string {
		return scheme + "://127.0.0.1:" + strconv.Itoa(port) + path
	}
	ec, ep := d.Ports[portEtcdClient], d.Ports[portEtcdPeer]
	api, kcm, sch, kw := d.Ports[portAPI], d.Ports[portKCM], d.Ports[portScheduler], d.Ports[portKwok]
	etcdClientURL, etcdPeerURL := url("https", ec, ""), url("https", ep, "")
	return []component{
		{
			name: Etcd,
			argv: []string{bins[Etcd],
				"--name=dstload", "--data-dir=" + ps.etcd,
				"--listen-client-urls=" + etcdClientURL, "--advertise-client-urls=" + etcdClientURL,
				"--listen-peer-urls=" + etcdPeerURL, "--initial-advertise-peer-urls=" + etcdPeerURL,
				"--initial-cluster=dstload=" + etcdPeerURL,
				"--cert-file=" + pki("etcd.crt"), "--key-file=" + pki("etcd.key"),
				"--trusted-ca-file=" + pki("ca.crt"), "--client-cert-auth",
				"--peer-cert-file=" + pki("etcd.crt"), "--peer-key-file=" + pki("etcd.key"),
				"--peer-trusted-ca-file=" + pki("ca.crt"), "--peer-client-cert-auth",
				// A throw-away test bed: durability is not worth the fsyncs.
				"--unsafe-no-fsync", "--auto-compaction-retention=1",
				"--quota-backend-bytes=8589934592", "--log-level=warn",
			},
			addr: "127.0.0.1:" + strconv.Itoa(ec), health: url("https", ec, "/health"),
			ports: []int{ec, ep}, portMap: map[string]int{"client": ec, "peer": ep},
		},
		{
			name: APIServer,
			argv: []string{bins[APIServer],
				"--etcd-servers=" + etcdClientURL, "--etcd-cafile=" + pki("ca.crt"),
				"--etcd-certfile=" + pki("apiserver-etcd-client.crt"), "--etcd-keyfile=" + pki("apiserver-etcd-client.key"),
				// The apiserver listens on loopback only, but the address it
				// advertises (the endpoint of the "kubernetes" Service) may
				// not be loopback: with 127.0.0.1 that Service gets no
				// EndpointSlice, and Linkerd's destination controller refuses
				// to start in a cluster without any. A TEST-NET-1 address
				// (RFC 5737) is valid and reaches nothing.
				"--bind-address=127.0.0.1", "--advertise-address=" + advertiseAddress, "--secure-port=" + strconv.Itoa(api),
				"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
				"--client-ca-file=" + pki("ca.crt"),
				"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
				"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
				"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
				"--service-cluster-ip-range=" + serviceCIDR, "--authorization-mode=Node,RBAC",
				"--allow-privileged=true",
				// This plugin taints every new Node not-ready until the
				// controller manager's node-lifecycle controller has seen it
				// Ready; the fake nodes are Ready at once (kwok), so the taint
				// would only hold up the first pods by about a second.
				"--disable-admission-plugins=TaintNodesByCondition",
				// Load tests must not be throttled by the apiserver itself.
				"--enable-priority-and-fairness=false", "--max-requests-inflight=0", "--max-mutating-requests-inflight=0",
			},
			addr: "127.0.0.1:" + strconv.Itoa(api), health: url("https", api, "/readyz"),
			ports: []int{api}, portMap: map[string]int{"https": api},
		},
		{
			name: ControllerManager,
			argv: []string{bins[ControllerManager],
				"--kubeconfig=" + cfg("controller-manager.kubeconfig"),
				"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcm),
				"--tls-cert-file=" + pki("controller-manager-serving.crt"), "--tls-private-key-file=" + pki("controller-manager-serving.key"),
				"--root-ca-file=" + pki("ca.crt"), "--service-account-private-key-file=" + pki("sa.key"),
				"--use-service-account-credentials=false", "--leader-elect=false",
				// nodelifecycle stays on: without it the not-ready taint never
				// leaves the fake nodes. Pod CIDRs are set on the nodes, so no
				// nodeipam; nothing here has volumes, clouds or routes.
				"--controllers=*,-nodeipam,-ttl,-bootstrapsigner,-tokencleaner,-persistentvolume-binder,-attachdetach,-service-lb-controller,-cloud-node-lifecycle,-route",
				// kwok's node-heartbeat stage renews every 20-45 s.
				"--node-monitor-grace-period=2m",
				"--kube-api-qps=500", "--kube-api-burst=1000",
			},
			addr: "127.0.0.1:" + strconv.Itoa(kcm), health: url("https", kcm, "/healthz"),
			ports: []int{kcm}, portMap: map[string]int{"https": kcm},
		},
		{
			name: Scheduler,
			argv: []string{bins[Scheduler],
				"--config=" + cfg("scheduler.yaml"),
				"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(sch),
				"--tls-cert-file=" + pki("scheduler-serving.crt"), "--tls-private-key-file=" + pki("scheduler-serving.key"),
			},
			addr: "127.0.0.1:" + strconv.Itoa(sch), health: url("https", sch, "/healthz"),
			ports: []int{sch}, portMap: map[string]int{"https": sch},
		},
		{
			name: Kwok,
			argv: []string{bins[Kwok],
				"--kubeconfig=" + cfg("kwok.kubeconfig"),
				"--config=" + cfg("kwok.yaml"),
				"--manage-all-nodes=false",
				"--manage-nodes-with-annotation-selector=" + NodeAnnotationKey + "=" + NodeTaintValue,
				"--server-address=127.0.0.1:" + strconv.Itoa(kw),
			},
			addr: "127.0.0.1:" + strconv.Itoa(kw), health: url("http", kw, "/healthz"),
			ports: []int{kw}, portMap: map[string]int{"http": kw},
		},
	}
}

func writeSchedulerConfig(path, kubeconfig string) error {
	cfg := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, kubeconfig)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("write scheduler config: %w", err)
	}
	return nil
}

// pickPorts chooses the components' ports on 127.0.0.1 (apiPort, when not
// 0, is the user's choice for the apiserver).
func pickPorts(apiPort int) (map[string]int, error) {
	names := []string{portEtcdClient, portEtcdPeer, portAPI, portKCM, portScheduler, portKwok}
	ports := map[string]int{}
	if apiPort != 0 {
		if err := checkPortFree(apiPort); err != nil {
			return nil, fmt.Errorf("--api-port: %w; pick another or leave it out", err)
		}
		ports[portAPI] = apiPort
	}
	free, err := freePorts(len(names) - len(ports))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := ports[n]; !ok {
			ports[n], free = free[0], free[1:]
		}
	}
	return ports, nil
}

// freePorts picks n distinct free ports on 127.0.0.1, holding each until all
// are chosen. They come from below the kernel's ephemeral range when there
// is room: the kernel never hands those out by itself, so an outgoing
// connection or another program's listen on port 0 cannot take one between
// our pick and the component's bind (with port 0 both happen). Random
// choice keeps concurrent environments (parallel tests) apart.
func freePorts(n int) ([]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	low, high := belowEphemeral()
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		addr := "127.0.0.1:0"
		if high > low && attempts < 50*n {
			addr = "127.0.0.1:" + strconv.Itoa(low+rand.IntN(high-low+1))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, fmt.Errorf("pick a port: %w", err)
			}
			continue // taken: try another
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// belowEphemeral is the port range dstload picks from: from 10000 up to
// just below the ephemeral range (Linux: net.ipv4.ip_local_port_range,
// default 32768-60999). low > high means no room: use port 0.
func belowEphemeral() (low, high int) {
	first := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				first = v
			}
		}
	}
	return 10000, first - 1
}

// PortInUseError is a port some other program holds.
type PortInUseError struct{ Port int }

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port 127.0.0.1:%d is in use by another program", e.Port)
}

// waitPortFree gives a port a few seconds to be released: after a crash the
// dead process's connections can hold it briefly (FIN_WAIT), which would
// fail the restart of a recorded component on its recorded port.
func waitPortFree(ctx context.Context, port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := checkPortFree(port)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkPortFree(port int) error {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return &PortInUseError{Port: port}
	}
	return l.Close()
}

// healthClient trusts only the cluster CA and presents the admin client
// certificate (etcd requires a client certificate; the others accept it).
func healthClient(pkiDir string) (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster CA: no certificate in ca.crt")
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.crt"), filepath.Join(pkiDir, "admin.key"))
	if err != nil {
		return nil, fmt.Errorf("load admin certificate: %w", err)
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}, nil
}

// probe GETs a health URL; nil means 200 OK.
func probe(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

// waitHealthy polls a process's health URL until it answers 200, failing
// early (with the end of its log) when the process exits.
func waitHealthy(ctx context.Context, hc *http.Client, proc provision.Process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if !alive(proc) {
			return fmt.Errorf("%s exited during start-up: %s (log %s)", proc.Name, logTail(proc.Log), proc.Log)
		}
		if last = probe(ctx, hc, proc.HealthURL); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v (log %s)", proc.Name, timeout, last, proc.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// logTail returns the last lines of a log file for an error message.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return lastLines(string(data), 2)
}

func clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := provision.RESTConfig(kubeconfig, "")
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 100, 200
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return cs, nil
}

// NodeName is the name of fake node i.
func NodeName(i int) string { return fmt.Sprintf("kwok-node-%d", i) }

// NodePodCIDR is fake node i's pod CIDR: a /16 per node (65,534 addresses),
// so that far more than 10,000 pods get unique IPs on any number of nodes.
func NodePodCIDR(i int) string { return fmt.Sprintf("10.%d.0.0/16", 128+i) }

// FakeNode is fake node i as every provider creates it (Linkerd's
// hack/kwok-node.yaml shape): label type=kwok, annotation and NoSchedule
// taint kwok.x-k8s.io/node=fake, its own /16 pod CIDR (outside k3s'
// 10.42.0.0/16) and allocatable large enough for thousands of pods.
func FakeNode(i int) *corev1.Node {
	name := NodeName(i)
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse("65000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				NodeLabelKey:                    NodeLabelValue,
				"kubernetes.io/hostname":        name,
				"kubernetes.io/os":              "linux",
				"kubernetes.io/arch":            "amd64",
				"kubernetes.io/role":            "agent",
				"node-role.kubernetes.io/agent": "",
			},
			Annotations: map[string]string{
				NodeAnnotationKey:              NodeTaintValue,
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{
			PodCIDR:  NodePodCIDR(i),
			PodCIDRs: []string{NodePodCIDR(i)},
			Taints:   []corev1.Taint{{Key: NodeTaintKey, Value: NodeTaintValue, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}
}

// ensureNodes creates the fake nodes that do not exist yet.
func ensureNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	for i := 0; i < n; i++ {
		_, err := cs.CoreV1().Nodes().Create(ctx, FakeNode(i), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", NodeName(i), err)
		}
	}
	return nil
}

// nodeReady reports whether a node is Ready and carries no not-ready or
// unreachable taint, i.e. a pod can be scheduled onto it now.
func nodeReady(n *corev1.Node) bool {
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}

// ensureDefaultServiceAccount creates default/default if it is missing.
func ensureDefaultServiceAccount(ctx context.Context, cs kubernetes.Interface) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}}
	_, err := cs.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default ServiceAccount: %w", err)
	}
	return nil
}

// waitClusterReady waits until n fake nodes are Ready, the default
// ServiceAccount exists (pods are refused before it does) and the
// kubernetes Service has its EndpointSlice.
func waitClusterReady(ctx context.Context, log *slog.Logger, cs kubernetes.Interface, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var detail string
	nodesLogged := false
	for {
		ready, err := countReadyNodes(ctx, cs)
		switch {
		case err != nil:
			detail = err.Error()
		case ready < n:
			detail = fmt.Sprintf("%d/%d nodes Ready", ready, n)
		default:
			if !nodesLogged {
				nodesLogged = true
				log.Debug("fake nodes ready", "nodes", n)
			}
			_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
			if err != nil {
				detail = "default ServiceAccount: " + err.Error()
				break
			}
			// Linkerd's destination controller refuses to start while the
			// cluster has no EndpointSlice at all; the kubernetes
			// Service's is the first.
			slices, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
			if err == nil && len(slices.Items) > 0 {
				return nil
			}
			detail = "no EndpointSlice for the kubernetes Service yet"
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return parent
			}
			return fmt.Errorf("cluster not ready after %s: %s", timeout, detail)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func countReadyNodes(ctx context.Context, cs kubernetes.Interface) (int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: NodeLabelKey + "=" + NodeLabelValue})
	if err != nil {
		return 0, err
	}
	ready := 0
	for i := range nodes.Items {
		if nodeReady(&nodes.Items[i]) {
			ready++
		}
	}
	return ready, nil
}

// NeedsChange reports whether an environment that is up lacks the
// destination controller these options ask for (a second `up` with
// --destination-bin or --destination-addr adds or replaces it).
func (p *Provider) NeedsChange(st *provision.State) bool {
	c := st.Cluster("")
	if c == nil {
		return false
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

// Delete stops every recorded process (newest first), verifies by PID that
// each is gone, and removes the provider's files.
func (p *Provider) Delete(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	for i := len(st.Processes) - 1; i >= 0; i-- {
		proc := st.Processes[i]
		env.Progressf("stopping %s (pid %d)", proc.Name, proc.PID)
		if err := stopProcess(ctx, proc, 10*time.Second); err != nil {
			return err
		}
		if alive(proc) {
			return fmt.Errorf("%s (pid %d) is still running", proc.Name, proc.PID)
		}
		st.RemoveProcess(proc.Cluster, proc.Name)
		if err := save(st); err != nil {
			return err
		}
	}
	ps := envPaths(env.Dir)
	for _, path := range []string{ps.root, ps.logs, ps.kubeconfig} {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove %s: %w", path, err)
		}
	}
	st.Clusters = nil
	return save(st)
}

// Status checks every recorded process (identity, then health), the fake
// nodes and the destination controller. It changes nothing.
func (p *Provider) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	ps := envPaths(env.Dir)
	hc, err := healthClient(ps.pki)
	if err != nil {
		hc = nil // PKI gone (partial up or down): processes still get checked
	}
	var out []provision.ComponentStatus
	apiUp := false
	for _, proc := range st.Processes {
		cs := provision.ComponentStatus{Cluster: proc.Cluster, Name: proc.Name, PID: proc.PID, Address: proc.Addr}
		switch {
		case !alive(proc):
			cs.Health, cs.Detail = provision.Gone, "process is not running"
		case hc == nil:
			cs.Health, cs.Detail = provision.Unhealthy, "cluster PKI missing"
		default:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := probe(pctx, hc, proc.HealthURL)
			cancel()
			if err != nil {
				cs.Health, cs.Detail = provision.Unhealthy, err.Error()
			} else {
				cs.Health = provision.Healthy
				if proc.Name == APIServer {
					apiUp = true
				}
			}
		}
		out = append(out, cs)
	}
	if d, err := loadData(st); err == nil && d.Nodes > 0 {
		ns := provision.ComponentStatus{Name: "nodes", Health: provision.Unhealthy}
		if !apiUp {
			ns.Detail = "apiserver unavailable"
		} else if cs, err := clientset(ps.kubeconfig); err != nil {
			ns.Detail = err.Error()
		} else {
			nctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ready, err := countReadyNodes(nctx, cs)
			cancel()
			if err != nil {
				ns.Detail = err.Error()
			} else {
				ns.Detail = fmt.Sprintf("%d/%d fake nodes Ready", ready, d.Nodes)
				if ready >= d.Nodes {
					ns.Health = provision.Healthy
				}
			}
		}
		out = append(out, ns)
	}
	out = append(out, destinationStatus(ctx, st)...)
	return out, nil
}

// destinationStatus covers an external destination address or its absence;
// a supervised one is among the processes.
func destinationStatus(ctx context.Context, st *provision.State) []provision.ComponentStatus {
	c := st.Cluster("")
	if c == nil || c.DestinationSource == "process" {
		return nil
	}
	s := provision.ComponentStatus{Name: Destination, Address: c.DestinationAddr}
	if c.DestinationSource != "external" {
		s.Health, s.Detail = provision.Absent, "no destination controller; add one with --destination-bin PATH or --destination-addr HOST:PORT"
		return []provision.ComponentStatus{s}
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", c.DestinationAddr)
	if err != nil {
		s.Health, s.Detail = provision.Unhealthy, err.Error()
		return []provision.ComponentStatus{s}
	}
	conn.Close()
	s.Health, s.Detail = provision.Healthy, "external (--destination-addr)"
	return []provision.ComponentStatus{s}
}

// trimLog keeps error messages to one line.
func trimLog(s string) string { return strings.Join(strings.Fields(s), " ") }
