package local

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// portScheduler is kube-scheduler's port in data.Ports.
const portScheduler = "scheduler"

// scheduler is kube-scheduler, configured by a file (its client
// connection's QPS can only be set there).
func scheduler(l layout) component {
	port := l.ports[portScheduler]
	kubeconfig := l.kubeconfigPath("scheduler")
	return component{
		name: Scheduler,
		argv: []string{l.bins[Scheduler],
			"--config=" + l.config("scheduler.yaml"),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + l.pki("scheduler-serving.crt"), "--tls-private-key-file=" + l.pki("scheduler-serving.key"),
		},
		addr: loopback(port), health: loopbackURL("https", port, "/healthz"),
		ports:   map[string]int{"https": port},
		serving: []servingIdentity{{"scheduler-serving", "kube-scheduler", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}}},
		// Started alongside the apiserver, the scheduler would otherwise be
		// refused by RBAC until the bootstrap roles exist, and its informers
		// would back off for seconds after the cluster is ready.
		clients:    []clientIdentity{{"scheduler", "system:kube-scheduler", []string{"system:masters"}}},
		kubeconfig: "scheduler",
		configs: []configFile{{"scheduler.yaml", func(path string) error {
			return writeSchedulerConfig(path, kubeconfig)
		}}},
		afterAPIServer: true,
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
