package main

import (
	"github.com/dstload/dstload/provision"
	"github.com/dstload/dstload/provision/local"
	"github.com/dstload/dstload/workload/observer"
)

// observerCommand is the argv prefix of `dstload observe` for a run in the
// environment st: on the local provider it follows the cluster's etcd
// (the reference clock ahead of every API watcher), elsewhere the API
// server's watch.
func observerCommand(exe, envDir string, st *provision.State, cluster string) []string {
	cmd := []string{exe, "observe"}
	if e, err := local.EtcdAccessOfCluster(envDir, st, cluster); err == nil {
		cmd = append(cmd, e.Args()...)
	}
	return cmd
}

// etcdFlags are `dstload observe --etcd-*`: the local provider's etcd,
// which the observer follows instead of the API server's watch.
type etcdFlags struct {
	endpoint, ca, cert, key, prefix string
}

// source connects to the etcd the flags name.
func (f etcdFlags) source() (observer.EtcdSource, func(), error) {
	if f.ca == "" || f.cert == "" || f.key == "" {
		return observer.EtcdSource{}, nil, usageErrorf("--etcd-endpoint needs --etcd-ca, --etcd-cert and --etcd-key")
	}
	return observer.DialEtcd(observer.EtcdTLS{Endpoint: f.endpoint, CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}, f.prefix)
}
