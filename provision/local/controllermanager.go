package local

import (
	"net"
	"strconv"
)

// portKCM is kube-controller-manager's port in data.Ports.
const portKCM = "controller-manager"

// controllerManager is kube-controller-manager with the controllers a
// cluster of fake nodes needs.
func controllerManager(l layout) component {
	port := l.ports[portKCM]
	return component{
		name: ControllerManager,
		argv: []string{l.bins[ControllerManager],
			"--kubeconfig=" + l.kubeconfigPath("controller-manager"),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
			"--tls-cert-file=" + l.pki("controller-manager-serving.crt"), "--tls-private-key-file=" + l.pki("controller-manager-serving.key"),
			"--root-ca-file=" + l.pki("ca.crt"), "--service-account-private-key-file=" + l.pki("sa.key"),
			"--use-service-account-credentials=false", "--leader-elect=false",
			// nodelifecycle stays on: without it the not-ready taint never
			// leaves the fake nodes. Pod CIDRs are set on the nodes, so no
			// nodeipam; nothing here has volumes, clouds or routes.
			"--controllers=*,-nodeipam,-ttl,-bootstrapsigner,-tokencleaner,-persistentvolume-binder,-attachdetach,-service-lb-controller,-cloud-node-lifecycle,-route",
			// kwok's node-heartbeat stage renews every 20-45 s.
			"--node-monitor-grace-period=2m",
			"--kube-api-qps=500", "--kube-api-burst=1000",
		},
		addr: loopback(port), health: loopbackURL("https", port, "/healthz"),
		ports:   map[string]int{"https": port},
		serving: []servingIdentity{{"controller-manager-serving", "kube-controller-manager", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}}},
		// With --use-service-account-credentials=false every controller
		// acts as the controller manager itself, which then needs more than
		// the system:kube-controller-manager role grants (per-controller
		// service account tokens would cost start-up time on a throw-away
		// cluster), and system:masters passes authorization before the RBAC
		// bootstrap roles exist, so it starts alongside the apiserver
		// without back-off.
		clients:        []clientIdentity{{"controller-manager", "system:kube-controller-manager", []string{"system:masters"}}},
		kubeconfig:     "controller-manager",
		afterAPIServer: true,
	}
}
