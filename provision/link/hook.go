package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/dstload/dstload/provision"
)

// Hook is a provision.StackHook that installs the stack, then links the
// environment's second cluster into its first. An environment of one
// cluster gets the stack alone.
type Hook struct {
	Stack provision.StackHook
	// TokenTimeout bounds the wait for the target's token (default 60 s).
	TokenTimeout time.Duration
}

var _ provision.StackHook = (*Hook)(nil)

// Wrap adds the link to a stack hook.
func Wrap(s provision.StackHook) *Hook { return &Hook{Stack: s} }

// Pair returns the source and the target of a linked environment, or nils.
func Pair(st *provision.State) (source, target *provision.Cluster) {
	if len(st.Clusters) < 2 {
		return nil, nil
	}
	return &st.Clusters[0], &st.Clusters[1]
}

// Install installs the stack (which on two clusters includes
// linkerd-multicluster on both) and then makes the link.
func (h *Hook) Install(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if err := h.Stack.Install(ctx, env, st, save); err != nil {
		return err
	}
	src, tgt := Pair(st)
	if src == nil {
		return nil
	}
	env.Progressf("linking %s into %s", tgt.Name, src.Name)
	if err := Ensure(ctx, src, tgt, h.tokenTimeout()); err != nil {
		return fmt.Errorf("link %s into %s: %w", tgt.Name, src.Name, err)
	}
	return nil
}

func (h *Hook) tokenTimeout() time.Duration {
	if h.TokenTimeout > 0 {
		return h.TokenTimeout
	}
	return 60 * time.Second
}

// Ensure makes the link of tgt into src: the credentials Secrets and the
// Link on the source. The destination Secret is recreated when its contents
// changed or when the source's controller answers that it holds no linked
// cluster (its add failed, and it never retries one).
func Ensure(ctx context.Context, src, tgt *provision.Cluster, tokenTimeout time.Duration) error {
	tcs, _, err := clients(tgt)
	if err != nil {
		return err
	}
	server := tgt.LinkServer
	if server == "" {
		server = tgt.Server // local: every process of both clusters is on this host
	}
	creds, err := ReadCredentials(ctx, tcs, tgt.Name, server, tokenTimeout)
	if err != nil {
		return err
	}
	scs, dc, err := clients(src)
	if err != nil {
		return err
	}
	recreate := false
	if src.DestinationAdminAddr != "" {
		if n, err := ClusterStoreSize(ctx, src.DestinationAdminAddr); err == nil && n == 0 {
			recreate = true
		}
	}
	if _, err := EnsureSecret(ctx, scs, creds.DestinationSecret(), recreate); err != nil {
		return err
	}
	if _, err := EnsureSecret(ctx, scs, creds.MirrorSecret(), false); err != nil {
		return err
	}
	return EnsureLink(ctx, dc, creds)
}

// Uninstall removes the link's objects from the source, then the stack
// (Down calls it only where the clusters outlive the environment).
func (h *Hook) Uninstall(ctx context.Context, env provision.Env, st *provision.State, save provision.SaveFunc) error {
	if src, tgt := Pair(st); src != nil {
		scs, dc, err := clients(src)
		if err != nil {
			return err
		}
		for _, ns := range []string{ControlPlaneNamespace, MulticlusterNamespace} {
			if err := DeleteSecret(ctx, scs, ns, SecretName(tgt.Name)); err != nil {
				return err
			}
		}
		err = dc.Resource(LinkGVR).Namespace(MulticlusterNamespace).Delete(ctx, tgt.Name, metav1.DeleteOptions{})
		if err != nil && !isGone(err) {
			return fmt.Errorf("delete Link %s: %w", tgt.Name, err)
		}
	}
	return h.Stack.Uninstall(ctx, env, st, save)
}

// Status reports the stack's releases and, for a linked pair, the link.
func (h *Hook) Status(ctx context.Context, env provision.Env, st *provision.State) ([]provision.ComponentStatus, error) {
	out, err := h.Stack.Status(ctx, env, st)
	if err != nil {
		return nil, err
	}
	if src, tgt := Pair(st); src != nil {
		out = append(out, Check(ctx, src, tgt).Component())
	}
	return out, nil
}

// clients builds a clientset and a dynamic client for a cluster.
func clients(c *provision.Cluster) (kubernetes.Interface, dynamic.Interface, error) {
	cfg, err := provision.RESTConfig(c.Kubeconfig, c.Context)
	if err != nil {
		return nil, nil, err
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	return cs, dc, nil
}

// ClusterStoreSize reads the destination controller's cluster_store_size
// gauge (the clusters its cluster store holds) from its admin /metrics.
func ClusterStoreSize(ctx context.Context, adminAddr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("destination metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("destination metrics: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "cluster_store_size "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("cluster_store_size %q: %w", v, err)
			}
			return int(f), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("destination metrics: %w", err)
	}
	return 0, errors.New("destination metrics have no cluster_store_size (not a controller with remote discovery)")
}
