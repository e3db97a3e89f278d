package certs

import (
	"crypto/x509"
	"encoding/hex"
	"path/filepath"
	"time"

	"go.step.sm/crypto/x509util"
)

// CertInfo is what `dstload certs inspect` shows of one certificate. Keys are
// never part of it.
type CertInfo struct {
	File              string    `json:"file"`
	Subject           string    `json:"subject"`
	Issuer            string    `json:"issuer"`
	Serial            string    `json:"serial"`
	FingerprintSHA256 string    `json:"fingerprintSHA256"`
	NotBefore         time.Time `json:"notBefore"`
	NotAfter          time.Time `json:"notAfter"`
	IsCA              bool      `json:"isCA"`
	// MaxPathLen is nil when the certificate sets no path-length limit.
	MaxPathLen         *int   `json:"maxPathLen,omitempty"`
	KeyAlgorithm       string `json:"keyAlgorithm"`
	SignatureAlgorithm string `json:"signatureAlgorithm"`
}

// Inspection describes a trust-root directory.
type Inspection struct {
	Dir    string    `json:"dir"`
	Anchor *CertInfo `json:"anchor,omitempty"`
	Issuer *CertInfo `json:"issuer,omitempty"`
	// Valid is true when LoadTrustRoot would accept the directory; Problem
	// says why not otherwise.
	Valid   bool   `json:"valid"`
	Problem string `json:"problem,omitempty"`
}

// Inspect describes the trust root in dir. Unlike LoadTrustRoot it reports
// what it can read even when validation fails.
func Inspect(dir string, now time.Time) *Inspection {
	in := &Inspection{Dir: dir}
	if c, err := readCert(filepath.Join(dir, AnchorName+".crt")); err == nil {
		in.Anchor = describe(filepath.Join(dir, AnchorName+".crt"), c)
	}
	if c, err := readCert(filepath.Join(dir, IssuerName+".crt")); err == nil {
		in.Issuer = describe(filepath.Join(dir, IssuerName+".crt"), c)
	}
	if _, err := LoadTrustRoot(dir, now); err != nil {
		in.Problem = err.Error()
	} else {
		in.Valid = true
	}
	return in
}

func describe(file string, c *x509.Certificate) *CertInfo {
	info := &CertInfo{
		File:               file,
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		Serial:             hex.EncodeToString(c.SerialNumber.Bytes()),
		FingerprintSHA256:  x509util.Fingerprint(c),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		IsCA:               c.IsCA,
		KeyAlgorithm:       c.PublicKeyAlgorithm.String(),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
	}
	if c.IsCA && (c.MaxPathLen > 0 || c.MaxPathLenZero) {
		n := c.MaxPathLen
		info.MaxPathLen = &n
	}
	return info
}
