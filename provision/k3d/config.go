package k3d

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/k3d-io/k3d/v5/pkg/config"
	configtypes "github.com/k3d-io/k3d/v5/pkg/config/types"
	conf "github.com/k3d-io/k3d/v5/pkg/config/v1alpha5"
	"github.com/k3d-io/k3d/v5/pkg/runtimes"
	"sigs.k8s.io/yaml"
)

// DefaultK3sImage pins the k3s node image: Kubernetes 1.32 (Linkerd's
// charts need >= 1.31), and the k3s version k3d v5.9.0 itself defaults to,
// so the SDK and the image are known to work together.
const DefaultK3sImage = "rancher/k3s:v1.32.5-k3s1"

// DisabledK3sComponents are the k3s add-ons a load test does not want (as
// Linkerd's manual steps did): no storage, ingress, service load balancer
// or metrics-server competing for the node's CPU.
var DisabledK3sComponents = []string{"local-storage", "traefik", "servicelb", "metrics-server"}

// ClusterSpec is what dstload decides about one k3d cluster.
type ClusterSpec struct {
	// Name is the k3d cluster name (containers are k3d-<name>-...).
	Name string
	// Index is the cluster's place in the environment (0 = first); it
	// picks the cluster's pod and service ranges (ClusterCIDRs).
	Index int
	// Image is the k3s image.
	Image string
	// Network is the Docker network the cluster joins; clusters of one
	// environment share it so that they reach each other (multicluster on
	// a flat network).
	Network string
	// APIHostPort is the host port of the API server on 127.0.0.1.
	APIHostPort int
	// Timeout bounds the SDK's create (and its wait for the server).
	Timeout time.Duration
}

// SimpleConfig is spec as the k3d config file a user would write
// (k3d.io/v1alpha5 Simple): one server, no agents, no load balancer, the
// add-ons disabled, the default kubeconfig left alone.
func SimpleConfig(spec ClusterSpec) conf.SimpleConfig {
	r := ClusterCIDRs(spec.Index)
	var args []conf.K3sArgWithNodeFilters
	for _, a := range append(disableArgs(),
		"--cluster-cidr="+r.Pods, "--service-cidr="+r.Services, "--cluster-dns="+r.DNS,
		// The server certificate must name the container, which is how the
		// other cluster's controllers reach this API server on the shared
		// network (InternalServer); k3s adds only its defaults and IPs.
		"--tls-san="+internalHost(spec.Name),
	) {
		args = append(args, conf.K3sArgWithNodeFilters{Arg: a, NodeFilters: []string{"server:*"}})
	}
	return conf.SimpleConfig{
		TypeMeta:   configtypes.TypeMeta{Kind: "Simple", APIVersion: conf.ApiVersion},
		ObjectMeta: configtypes.ObjectMeta{Name: spec.Name},
		Servers:    1,
		Agents:     0,
		Image:      spec.Image,
		Network:    spec.Network,
		// Only this host reaches the API server (k3d's default is 0.0.0.0).
		ExposeAPI: conf.SimpleExposureOpts{
			Host:     "127.0.0.1",
			HostIP:   "127.0.0.1",
			HostPort: strconv.Itoa(spec.APIHostPort),
		},
		Options: conf.SimpleConfigOptions{
			K3dOptions: conf.SimpleConfigOptionsK3d{
				Wait:                true,
				Timeout:             spec.Timeout,
				DisableLoadbalancer: true,
			},
			K3sOptions: conf.SimpleConfigOptionsK3s{ExtraArgs: args},
			KubeconfigOptions: conf.SimpleConfigOptionsKubeconfig{
				// dstload writes the kubeconfig into its state dir; the
				// user's ~/.kube/config is never touched.
				UpdateDefaultKubeconfig: false,
				SwitchCurrentContext:    false,
			},
		},
	}
}

func disableArgs() []string {
	out := make([]string, 0, len(DisabledK3sComponents))
	for _, c := range DisabledK3sComponents {
		out = append(out, "--disable="+c)
	}
	return out
}

// CIDRs are a cluster's pod and service ranges and its DNS service address.
type CIDRs struct{ Pods, Services, DNS string }

// ClusterCIDRs gives cluster i of an environment ranges of its own. The
// clusters share one flat Docker network, and two k3s clusters with k3s'
// defaults (pods 10.42.0.0/16, services 10.43.0.0/16) would hand out the
// same addresses, which a multicluster link cannot route. The first
// cluster keeps the defaults; the second gets 10.44/16 and 10.45/16. All
// stay clear of the KWOK nodes' pod ranges (10.128/16 and up, see
// fakenode.PodCIDR).
func ClusterCIDRs(i int) CIDRs {
	pods, svc := 42+2*i, 43+2*i
	return CIDRs{
		Pods:     fmt.Sprintf("10.%d.0.0/16", pods),
		Services: fmt.Sprintf("10.%d.0.0/16", svc),
		// k3s' default is the .10 of its default service range; with
		// another range it must be given.
		DNS: fmt.Sprintf("10.%d.0.10", svc),
	}
}

// ClusterConfig runs the steps k3d's `cluster create` runs between reading
// its config and creating the cluster: the JSON schema of config files,
// ProcessSimpleConfig, TransformSimpleToClusterConfig, ProcessClusterConfig
// and ValidateClusterConfig. With the load balancer off and no ports,
// volumes or files, none of them needs the Docker daemon.
func ClusterConfig(ctx context.Context, rt runtimes.Runtime, simple conf.SimpleConfig) (*conf.ClusterConfig, error) {
	if err := validateSchema(simple); err != nil {
		return nil, fmt.Errorf("k3d config for cluster %s: %w", simple.Name, err)
	}
	if err := config.ProcessSimpleConfig(&simple); err != nil {
		return nil, fmt.Errorf("process k3d config for cluster %s: %w", simple.Name, err)
	}
	cc, err := config.TransformSimpleToClusterConfig(ctx, rt, simple, "")
	if err != nil {
		return nil, fmt.Errorf("transform k3d config for cluster %s: %w", simple.Name, err)
	}
	cc, err = config.ProcessClusterConfig(*cc)
	if err != nil {
		return nil, fmt.Errorf("process k3d cluster config %s: %w", simple.Name, err)
	}
	if err := config.ValidateClusterConfig(ctx, rt, *cc); err != nil {
		return nil, fmt.Errorf("invalid k3d cluster config %s: %w", simple.Name, err)
	}
	return cc, nil
}

// validateSchema checks simple against k3d's JSON schema for config files,
// as `k3d cluster create --config` would.
func validateSchema(simple conf.SimpleConfig) error {
	schema, err := config.GetSchemaByVersion(simple.APIVersion)
	if err != nil {
		return err
	}
	raw, err := yaml.Marshal(simple)
	if err != nil {
		return err
	}
	var content map[string]any
	if err := yaml.Unmarshal(raw, &content); err != nil {
		return err
	}
	// The schema wants durations as strings ("60s"); the struct holds
	// nanoseconds.
	if opts, ok := content["options"].(map[string]any); ok {
		if k, ok := opts["k3d"].(map[string]any); ok && simple.Options.K3dOptions.Timeout > 0 {
			k["timeout"] = simple.Options.K3dOptions.Timeout.String()
		}
	}
	return config.ValidateSchema(content, schema)
}

// freePort asks the kernel for a free port on 127.0.0.1, as k3d's CLI does
// for --api-port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for the API server: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
