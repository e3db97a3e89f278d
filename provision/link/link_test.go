package link

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/clientcmd"
)

func target(token string) *fake.Clientset {
	return fake.NewClientset(
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: RemoteAccessServiceAccount + "-token", Namespace: MulticlusterNamespace,
				Annotations: map[string]string{tokenSecretSAAnno: RemoteAccessServiceAccount}},
			Type: corev1.SecretTypeServiceAccountToken,
			Data: map[string][]byte{"token": []byte(token), "ca.crt": []byte("CA")},
		},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "linkerd-config", Namespace: ControlPlaneNamespace},
			Data:       map[string]string{"values": "identityTrustDomain: example.org\nclusterDomain: cluster.local\n"},
		})
}

// The credentials are link-gen's: the target's server and CA with the
// remote-access token, and the Secret the cluster store takes.
func TestReadCredentials(t *testing.T) {
	c, err := ReadCredentials(context.Background(), target("tok"), "east", "https://127.0.0.1:6443", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "tok" || string(cfg.CAData) != "CA" {
		t.Errorf("kubeconfig host %s token %q ca %q", cfg.Host, cfg.BearerToken, cfg.CAData)
	}
	s := c.DestinationSecret()
	switch {
	case s.Name != "cluster-credentials-east" || s.Namespace != "linkerd" || s.Type != "mirror.linkerd.io/remote-kubeconfig":
		t.Errorf("secret %s/%s type %s", s.Namespace, s.Name, s.Type)
	case s.Labels["multicluster.linkerd.io/cluster-name"] != "east":
		t.Errorf("labels %v", s.Labels)
	case s.Annotations["multicluster.linkerd.io/trust-domain"] != "example.org" || s.Annotations["multicluster.linkerd.io/cluster-domain"] != "cluster.local":
		t.Errorf("annotations %v", s.Annotations)
	case string(s.Data["kubeconfig"]) != string(c.Kubeconfig):
		t.Error("data.kubeconfig is not the link's kubeconfig")
	}
	if m := c.MirrorSecret(); m.Namespace != MulticlusterNamespace || m.Type != s.Type || len(m.Labels) != 0 {
		t.Errorf("service-mirror's secret %s type %s labels %v", m.Namespace, m.Type, m.Labels)
	}

	// Until the token controller filled the token in, there is none to link with.
	if _, err := ReadCredentials(context.Background(), target(""), "east", "https://x", 300*time.Millisecond); err == nil {
		t.Error("no token: want an error")
	}
}

// The cluster store ignores updates, so a Secret is never updated: it is
// kept as it is, or deleted and created again.
func TestEnsureSecret(t *testing.T) {
	c, err := ReadCredentials(context.Background(), target("one"), "east", "https://x", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ReadCredentials(context.Background(), target("two"), "east", "https://x", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		have     []runtime.Object
		want     *corev1.Secret
		recreate bool
		verbs    []string
		wrote    bool
	}{
		{"missing", nil, c.DestinationSecret(), false, []string{"get", "create"}, true},
		{"same", []runtime.Object{c.DestinationSecret()}, c.DestinationSecret(), false, []string{"get"}, false},
		{"changed", []runtime.Object{c.DestinationSecret()}, c2.DestinationSecret(), false, []string{"get", "delete", "get", "create"}, true},
		{"not taken", []runtime.Object{c.DestinationSecret()}, c.DestinationSecret(), true, []string{"get", "delete", "get", "create"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.have...)
			wrote, err := EnsureSecret(context.Background(), cs, tt.want, tt.recreate)
			if err != nil || wrote != tt.wrote {
				t.Fatalf("wrote %v, err %v; want wrote %v", wrote, err, tt.wrote)
			}
			var verbs []string
			for _, a := range cs.Actions() {
				verbs = append(verbs, a.GetVerb())
			}
			if len(verbs) != len(tt.verbs) {
				t.Fatalf("actions %v, want %v", verbs, tt.verbs)
			}
			for i := range verbs {
				if verbs[i] != tt.verbs[i] {
					t.Fatalf("actions %v, want %v", verbs, tt.verbs)
				}
			}
			got, err := cs.CoreV1().Secrets("linkerd").Get(context.Background(), tt.want.Name, metav1.GetOptions{})
			if err != nil || !sameSecret(got, tt.want) {
				t.Errorf("secret after: %v, %v", got, err)
			}
		})
	}
}

// The Link is link-gen's --gateway=false one, updated only when a field
// dstload sets differs.
func TestEnsureLink(t *testing.T) {
	c, err := ReadCredentials(context.Background(), target("tok"), "east", "https://x", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	dc := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{LinkGVR: "LinkList"})
	for range 2 {
		if err := EnsureLink(context.Background(), dc, c); err != nil {
			t.Fatal(err)
		}
	}
	var verbs []string
	for _, a := range dc.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	if len(verbs) != 3 || verbs[1] != "create" || verbs[2] != "get" {
		t.Errorf("actions %v: want one create, then only a read", verbs)
	}
	l, err := dc.Resource(LinkGVR).Namespace(MulticlusterNamespace).Get(context.Background(), "east", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := l.Object["spec"].(map[string]any)
	if spec["clusterCredentialsSecret"] != "cluster-credentials-east" || spec["targetClusterName"] != "east" || spec["gatewayAddress"] != nil || spec["selector"] != nil {
		t.Errorf("spec %v", spec)
	}
}
