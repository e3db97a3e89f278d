#!/usr/bin/env bash
# build.sh OUT_DIR: builds the pinned local control-plane binaries into OUT_DIR
# (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok) from
# the Go module proxy. Go's build cache makes a second run take seconds.
# Progress goes to stderr, one line per binary.
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

k8s_version=v1.36.3
kwok_version=v0.8.0
# Without these the apiserver reports v0.0.0-master and Helm refuses charts
# that declare kubeVersion (Linkerd's: >=1.31.0-0).
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${k8s_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=36"
  ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=2026-01-01T00:00:00Z"
done

cd "$here"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  echo "building $cmd $k8s_version" >&2
  go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
echo "building etcd" >&2
go build -trimpath -o "$out/etcd" ./etcd
echo "building kwok $kwok_version" >&2
# kwok has its own dependency graph; build it as its own module at its tag.
GOBIN="$out" go install -trimpath "sigs.k8s.io/kwok/cmd/kwok@${kwok_version}"
echo "control-plane binaries in $out" >&2
