package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"
)

func TestClusterCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := EnsureCA(dir, "cluster-ca", "dstload-ca", 24*time.Hour)
	if err != nil || !created {
		t.Fatalf("EnsureCA: created=%v err=%v", created, err)
	}
	again, created, err := EnsureCA(dir, "cluster-ca", "dstload-ca", 24*time.Hour)
	if err != nil || created || again.Fingerprint() != ca.Fingerprint() {
		t.Fatalf("second EnsureCA: created=%v err=%v (must load the existing CA)", created, err)
	}

	serving, err := ca.IssueServing("kube-apiserver", []string{"localhost", "kubernetes.default.svc"},
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("admin", []string{"system:masters"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueServing("nothing", nil, nil, time.Hour); err == nil {
		t.Error("serving certificate without names accepted")
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tests := []struct {
		name string
		cert *x509.Certificate
		opts x509.VerifyOptions
	}{
		{"serving by IP", serving.Cert, x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}},
		{"serving by name", serving.Cert, x509.VerifyOptions{Roots: roots, DNSName: "kubernetes.default.svc"}},
		{"client", client.Cert, x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.cert.Verify(tt.opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := client.Cert.Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("client organisation = %v", got)
	}
	if _, err := serving.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "example.com"}); err == nil {
		t.Error("serving certificate verified for a name it does not carry")
	}

	// The files must work as a real TLS key pair (what the apiserver loads).
	if err := serving.Write(dir, "apiserver"); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")); err != nil {
		t.Fatalf("written serving pair unusable by crypto/tls: %v", err)
	}
	if _, err := ReadKeyPair(dir, "apiserver"); err != nil {
		t.Fatal(err)
	}
}

func TestSigningKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sa")
	k, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Write(dir, "sa"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sa.key"))
	if err != nil || fi.Mode().Perm() != KeyMode {
		t.Fatalf("sa.key: %v mode %v", err, fi.Mode())
	}
	pub, err := pemutil.Read(filepath.Join(dir, "sa.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if pk, ok := pub.(interface{ Equal(x crypto.PublicKey) bool }); !ok || !pk.Equal(k.Public()) {
		t.Fatal("sa.pub does not hold the signing key's public key")
	}
}
