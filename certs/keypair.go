// Package certs generates and validates every certificate dstload needs: the
// Linkerd trust root (trust anchor + identity issuer) shared by all clusters
// of an environment, and the cluster CA, serving and client certificates of
// the local provider. Keys are ECDSA P-256 made with go.step.sm/crypto, so no
// other package generates keys by hand and no step or openssl CLI is needed.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/pemutil"
	"go.step.sm/crypto/x509util"
)

// File modes: keys are secrets, certificates are public.
const (
	DirMode  fs.FileMode = 0o700
	KeyMode  fs.FileMode = 0o600
	CertMode fs.FileMode = 0o644
)

// backdate puts NotBefore slightly in the past so that a peer whose clock is a
// little behind ours does not reject a certificate issued a moment ago.
const backdate = 5 * time.Minute

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CertPEM returns the certificate in PEM form.
func (kp *KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

// KeyPEM returns the private key as a SEC1 "EC PRIVATE KEY" block, a format
// that Linkerd, Kubernetes and etcd all read.
func (kp *KeyPair) KeyPEM() ([]byte, error) {
	block, err := pemutil.Serialize(kp.Key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(block), nil
}

// Fingerprint is the SHA-256 fingerprint of the certificate, in hex.
func (kp *KeyPair) Fingerprint() string { return x509util.Fingerprint(kp.Cert) }

// Write stores the pair as dir/name.crt (0644) and dir/name.key (0600),
// creating dir with mode 0700. Files are written atomically so that an
// interrupted write never leaves a half key behind.
func (kp *KeyPair) Write(dir, name string) error {
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, name+".key"), keyPEM, KeyMode); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".crt"), kp.CertPEM(), CertMode)
}

// ReadKeyPair loads dir/name.crt and dir/name.key and checks that the key is
// ECDSA P-256 and belongs to the certificate. It does not check validity
// dates; callers decide what an expired certificate means for them.
func ReadKeyPair(dir, name string) (*KeyPair, error) {
	certPath := filepath.Join(dir, name+".crt")
	keyPath := filepath.Join(dir, name+".key")
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	parsed, err := pemutil.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PEM private key: %w", keyPath, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: key is %T, want an ECDSA P-256 key", keyPath, parsed)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: key is on curve %s, want P-256", keyPath, key.Curve.Params().Name)
	}
	if err := checkP256(cert); err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if err := keyutil.VerifyPair(cert.PublicKey, key); err != nil {
		return nil, fmt.Errorf("%s does not belong to %s: %w", keyPath, certPath, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cert, err := pemutil.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PEM certificate: %w", path, err)
	}
	return cert, nil
}

func checkP256(cert *x509.Certificate) error {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("certificate key is %s, want ECDSA P-256", cert.PublicKeyAlgorithm)
	}
	if cert.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		return fmt.Errorf("certificate is signed with %s, want ECDSA-SHA256", cert.SignatureAlgorithm)
	}
	return nil
}

func writeFile(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// template describes a certificate to sign.
type template struct {
	subject     pkix.Name
	validity    time.Duration
	isCA        bool
	maxPathLen0 bool // CA that may only sign leaves
	keyUsage    x509.KeyUsage
	extKeyUsage []x509.ExtKeyUsage
	dnsNames    []string
	ips         []net.IP
}

// sign makes a new P-256 key and a certificate for it, signed by parent (or
// self-signed when parent is nil), with an ECDSA-SHA256 signature.
func sign(t template, parent *KeyPair, now time.Time) (*KeyPair, error) {
	if t.validity <= 0 {
		return nil, fmt.Errorf("validity must be positive, got %s", t.validity)
	}
	key, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               t.subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(t.validity),
		KeyUsage:              t.keyUsage,
		ExtKeyUsage:           t.extKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  t.isCA,
		DNSNames:              t.dnsNames,
		IPAddresses:           t.ips,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	if t.maxPathLen0 {
		tmpl.MaxPathLen = 0
		tmpl.MaxPathLenZero = true
	} else if t.isCA {
		tmpl.MaxPathLen = -1 // no limit
	}
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.Cert, parent.Key
		// A child must not outlive its issuer: peers reject the chain then.
		if tmpl.NotAfter.After(parent.Cert.NotAfter) {
			tmpl.NotAfter = parent.Cert.NotAfter
		}
	}
	cert, err := x509util.CreateCertificate(tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", t.subject.CommonName, err)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func exists(dir, name string) (bool, error) {
	_, errCrt := os.Stat(filepath.Join(dir, name+".crt"))
	_, errKey := os.Stat(filepath.Join(dir, name+".key"))
	switch {
	case errCrt == nil && errKey == nil:
		return true, nil
	case errors.Is(errCrt, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist):
		return false, nil
	case errCrt != nil && !errors.Is(errCrt, fs.ErrNotExist):
		return false, errCrt
	case errKey != nil && !errors.Is(errKey, fs.ErrNotExist):
		return false, errKey
	case errCrt != nil:
		return false, fmt.Errorf("%s exists but %s is missing; remove it or restore the certificate",
			filepath.Join(dir, name+".key"), filepath.Join(dir, name+".crt"))
	default:
		return false, fmt.Errorf("%s exists but %s is missing; remove it or restore the key",
			filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
	}
}
