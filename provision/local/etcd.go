package local

import "net"

// Ports of etcd in data.Ports.
const (
	portEtcdClient = "etcd-client"
	portEtcdPeer   = "etcd-peer"
)

// etcd is the cluster's store: TLS with client certificates on both its
// client and peer ports.
func etcd(l layout) component {
	client, peer := l.ports[portEtcdClient], l.ports[portEtcdPeer]
	clientURL, peerURL := loopbackURL("https", client, ""), loopbackURL("https", peer, "")
	return component{
		name: Etcd,
		argv: []string{l.bins[Etcd],
			"--name=dstload", "--data-dir=" + l.paths.etcd,
			"--listen-client-urls=" + clientURL, "--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=dstload=" + peerURL,
			"--cert-file=" + l.pki("etcd.crt"), "--key-file=" + l.pki("etcd.key"),
			"--trusted-ca-file=" + l.pki("ca.crt"), "--client-cert-auth",
			"--peer-cert-file=" + l.pki("etcd.crt"), "--peer-key-file=" + l.pki("etcd.key"),
			"--peer-trusted-ca-file=" + l.pki("ca.crt"), "--peer-client-cert-auth",
			// A throw-away test bed: durability is not worth the fsyncs.
			"--unsafe-no-fsync", "--auto-compaction-retention=1",
			"--quota-backend-bytes=8589934592", "--log-level=warn",
		},
		addr: loopback(client), health: loopbackURL("https", client, "/health"),
		ports:   map[string]int{"client": client, "peer": peer},
		serving: []servingIdentity{{"etcd", "etcd", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}}},
	}
}
