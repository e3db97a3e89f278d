package certs

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/pemutil"
)

// NewCA generates a self-signed CA (for example a local cluster's CA, which
// signs the apiserver's serving certificate and every client certificate).
func NewCA(cn string, validity time.Duration) (*KeyPair, error) {
	return sign(template{
		subject:  pkix.Name{CommonName: cn},
		validity: validity,
		isCA:     true,
		keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil, time.Now())
}

// EnsureCA loads dir/name.{crt,key} when present and valid, else generates a
// new CA there. It reports whether it created one.
func EnsureCA(dir, name, cn string, validity time.Duration) (*KeyPair, bool, error) {
	have, err := exists(dir, name)
	if err != nil {
		return nil, false, err
	}
	if have {
		ca, err := ReadKeyPair(dir, name)
		if err != nil {
			return nil, false, err
		}
		if err := checkWindow(ca.Cert, time.Now()); err != nil {
			return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, name+".crt"), err)
		}
		return ca, false, nil
	}
	ca, err := NewCA(cn, validity)
	if err != nil {
		return nil, false, err
	}
	if err := ca.Write(dir, name); err != nil {
		return nil, false, err
	}
	return ca, true, nil
}

// IssueServing signs a serving certificate for the given DNS names and IPs.
// It also carries ClientAuth so that peers such as etcd members can use the
// same certificate in both directions.
func (kp *KeyPair) IssueServing(cn string, dnsNames []string, ips []net.IP, validity time.Duration) (*KeyPair, error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, fmt.Errorf("serving certificate %q needs at least one DNS name or IP", cn)
	}
	return sign(template{
		subject:     pkix.Name{CommonName: cn},
		validity:    validity,
		keyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		dnsNames:    dnsNames,
		ips:         ips,
	}, kp, time.Now())
}

// IssueClient signs a client certificate. Kubernetes maps CN to the user name
// and each organization to a group (e.g. "system:masters").
func (kp *KeyPair) IssueClient(cn string, orgs []string, validity time.Duration) (*KeyPair, error) {
	return sign(template{
		subject:     pkix.Name{CommonName: cn, Organization: orgs},
		validity:    validity,
		keyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		extKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, kp, time.Now())
}

// SigningKey is a bare key pair with no certificate, such as the key the
// apiserver signs service-account tokens with.
type SigningKey struct{ crypto.Signer }

// NewSigningKey generates an ECDSA P-256 signing key (ES256 for JWTs).
func NewSigningKey() (*SigningKey, error) {
	k, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return &SigningKey{k}, nil
}

// Write stores dir/name.key (private, 0600) and dir/name.pub (public, 0644).
func (k *SigningKey) Write(dir, name string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	priv, err := pemutil.Serialize(k.Signer)
	if err != nil {
		return fmt.Errorf("encode signing key: %w", err)
	}
	pub, err := pemutil.Serialize(k.Public())
	if err != nil {
		return fmt.Errorf("encode public key: %w", err)
	}
	if err := writeFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(priv), KeyMode); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".pub"), pem.EncodeToMemory(pub), CertMode)
}
