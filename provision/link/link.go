// Package link links an environment's second cluster (the target) into its
// first (the source) as `linkerd multicluster link-gen` would, without the
// linkerd CLI: it reads the token of the remote-access ServiceAccount that
// the linkerd-multicluster chart makes on the target, and writes on the
// source the credentials Secret that the destination controller's cluster
// store watches, the service-mirror's copy of it, and the Link resource.
package link

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// Names and keys the linkerd-multicluster chart, link-gen and the
// destination controller agree on.
const (
	// ControlPlaneNamespace is where the destination controller's cluster
	// store watches Secrets (its -controller-namespace).
	ControlPlaneNamespace = "linkerd"
	// MulticlusterNamespace holds the remote-access ServiceAccount on the
	// target, and the Link and the service-mirror's credentials on the
	// source.
	MulticlusterNamespace = "linkerd-multicluster"
	// RemoteAccessServiceAccount is the chart's remoteMirrorServiceAccountName.
	RemoteAccessServiceAccount = "linkerd-service-mirror-remote-access-default"

	SecretType          = corev1.SecretType("mirror.linkerd.io/remote-kubeconfig")
	KubeconfigKey       = "kubeconfig"
	ClusterNameLabel    = "multicluster.linkerd.io/cluster-name"
	TrustDomainAnno     = "multicluster.linkerd.io/trust-domain"
	ClusterDomainAnno   = "multicluster.linkerd.io/cluster-domain"
	defaultDomain       = "cluster.local"
	tokenSecretSAAnno   = "kubernetes.io/service-account.name"
	linkerdConfigValues = "values"
)

// SecretName is the credentials Secret of a link to target.
func SecretName(target string) string { return "cluster-credentials-" + target }

// Credentials is what a link carries: the target's kubeconfig for the
// remote-access ServiceAccount, and the target's domains.
type Credentials struct {
	Target        string
	Kubeconfig    []byte
	TrustDomain   string
	ClusterDomain string
}

// ReadCredentials builds the kubeconfig of the target's remote-access
// ServiceAccount (link-gen's: the target cluster with server replaced, the
// user replaced by the token), waiting up to timeout for Kubernetes' token
// controller to fill the token in. server is the API server address the
// source's controllers reach.
func ReadCredentials(ctx context.Context, cs kubernetes.Interface, target, server string, timeout time.Duration) (*Credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	name := RemoteAccessServiceAccount + "-token"
	var last string
	for {
		sec, err := cs.CoreV1().Secrets(MulticlusterNamespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
		case sec.Type != corev1.SecretTypeServiceAccountToken || sec.Annotations[tokenSecretSAAnno] != RemoteAccessServiceAccount:
			return nil, fmt.Errorf("secret %s/%s is not the token of ServiceAccount %s", MulticlusterNamespace, name, RemoteAccessServiceAccount)
		case len(sec.Data[corev1.ServiceAccountTokenKey]) == 0 || len(sec.Data[corev1.ServiceAccountRootCAKey]) == 0:
			last = "the token controller has not filled in its token yet"
		default:
			cfg := clientcmdapi.NewConfig()
			cfg.Clusters[target] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: sec.Data[corev1.ServiceAccountRootCAKey]}
			cfg.AuthInfos[target] = &clientcmdapi.AuthInfo{Token: string(sec.Data[corev1.ServiceAccountTokenKey])}
			cfg.Contexts[target] = &clientcmdapi.Context{Cluster: target, AuthInfo: target}
			cfg.CurrentContext = target
			kc, err := clientcmd.Write(*cfg)
			if err != nil {
				return nil, fmt.Errorf("encode the link's kubeconfig: %w", err)
			}
			trust, domain, err := domains(ctx, cs)
			if err != nil {
				return nil, err
			}
			return &Credentials{Target: target, Kubeconfig: kc, TrustDomain: trust, ClusterDomain: domain}, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("target %s: token of %s/%s: %s after %s", target, MulticlusterNamespace, RemoteAccessServiceAccount, last, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// domains reads the target's trust and cluster domain from its
// linkerd-config, as link-gen does.
func domains(ctx context.Context, cs kubernetes.Interface) (trust, cluster string, err error) {
	cm, err := cs.CoreV1().ConfigMaps(ControlPlaneNamespace).Get(ctx, "linkerd-config", metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("the target's linkerd-config: %w", err)
	}
	var v struct {
		IdentityTrustDomain string `json:"identityTrustDomain"`
		ClusterDomain       string `json:"clusterDomain"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data[linkerdConfigValues]), &v); err != nil {
		return "", "", fmt.Errorf("the target's linkerd-config values: %w", err)
	}
	trust, cluster = v.IdentityTrustDomain, v.ClusterDomain
	if trust == "" {
		trust = defaultDomain
	}
	if cluster == "" {
		cluster = defaultDomain
	}
	return trust, cluster, nil
}

// DestinationSecret is the Secret the destination controller's cluster
// store adds a cluster for: type, label, both annotations and the
// kubeconfig. The service-mirror's copy in MulticlusterNamespace is the
// same without label and annotations (link-gen's first output).
func (c *Credentials) DestinationSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: SecretName(c.Target), Namespace: ControlPlaneNamespace,
			Labels:      map[string]string{ClusterNameLabel: c.Target},
			Annotations: map[string]string{TrustDomainAnno: c.TrustDomain, ClusterDomainAnno: c.ClusterDomain},
		},
		Type: SecretType,
		Data: map[string][]byte{KubeconfigKey: c.Kubeconfig},
	}
}

// MirrorSecret is the service-mirror's credentials Secret.
func (c *Credentials) MirrorSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(c.Target), Namespace: MulticlusterNamespace},
		Type:       SecretType,
		Data:       map[string][]byte{KubeconfigKey: c.Kubeconfig},
	}
}

// EnsureSecret makes want exist exactly. The destination controller's
// cluster store acts on a Secret's add and delete only (an update is
// ignored, a failed add never retried), so a Secret that differs, or one
// that recreate says the controller did not take, is deleted and created
// again rather than updated. It reports whether it wrote.
func EnsureSecret(ctx context.Context, cs kubernetes.Interface, want *corev1.Secret, recreate bool) (bool, error) {
	secrets := cs.CoreV1().Secrets(want.Namespace)
	have, err := secrets.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("read secret %s/%s: %w", want.Namespace, want.Name, err)
	case !recreate && sameSecret(have, want):
		return false, nil
	default:
		if err := DeleteSecret(ctx, cs, want.Namespace, want.Name); err != nil {
			return false, err
		}
	}
	if _, err := secrets.Create(ctx, want, metav1.CreateOptions{}); err != nil {
		return false, fmt.Errorf("create secret %s/%s: %w", want.Namespace, want.Name, err)
	}
	return true, nil
}

// DeleteSecret deletes a Secret and waits until it is gone, so that a
// create after it is a new object to every informer.
func DeleteSecret(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	secrets := cs.CoreV1().Secrets(ns)
	err := secrets.Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete secret %s/%s: %w", ns, name, err)
	}
	for {
		_, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete secret %s/%s: %w", ns, name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func sameSecret(have, want *corev1.Secret) bool {
	if have.Type != want.Type || len(have.Data) != len(want.Data) {
		return false
	}
	for k, v := range want.Data {
		if !bytes.Equal(have.Data[k], v) {
			return false
		}
	}
	return subset(want.Labels, have.Labels) && subset(want.Annotations, have.Annotations)
}

func subset(want, have map[string]string) bool {
	return maps.EqualFunc(want, filter(have, want), func(a, b string) bool { return a == b })
}

func filter(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
