package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// File names (without extension) of the Linkerd trust root in its directory:
// ca.crt/ca.key is the trust anchor, issuer.crt/issuer.key the identity issuer.
const (
	AnchorName = "ca"
	IssuerName = "issuer"
)

// Conventional common names (Linkerd enforces neither; its multicluster tests
// use these).
const (
	AnchorCN = "root.linkerd.cluster.local"
	IssuerCN = "identity.linkerd.cluster.local"
)

const (
	DefaultAnchorValidity = 10 * 365 * 24 * time.Hour
	DefaultIssuerValidity = 365 * 24 * time.Hour
	// expiryWarning is when `linkerd check` starts warning about expiry.
	expiryWarning = 60 * 24 * time.Hour
)

// TrustRoot is the Linkerd trust anchor and the identity issuer it signed.
type TrustRoot struct {
	Anchor *KeyPair
	Issuer *KeyPair
}

// TrustRootOptions configure EnsureTrustRoot. Zero values take the defaults.
type TrustRootOptions struct {
	AnchorValidity time.Duration
	IssuerValidity time.Duration
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

func (o TrustRootOptions) withDefaults() TrustRootOptions {
	if o.AnchorValidity == 0 {
		o.AnchorValidity = DefaultAnchorValidity
	}
	if o.IssuerValidity == 0 {
		o.IssuerValidity = DefaultIssuerValidity
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Outcome says what EnsureTrustRoot did.
type Outcome struct {
	AnchorCreated bool
	IssuerIssued  bool
	// Reason says why the issuer was (re)issued: "new", "expired", "near expiry".
	Reason string
}

// EnsureTrustRoot makes sure dir holds a valid trust root and returns it.
//
// An existing valid anchor is never replaced: clusters linked later must share
// it. When there is no anchor, a new anchor and issuer are generated. When the
// issuer is missing, expired or close to expiry, a new one is issued from the
// same anchor. Anything else wrong (corrupt files, mismatched keys, an expired
// anchor, an issuer from another anchor) is an error naming the file, never
// silently overwritten.
func EnsureTrustRoot(dir string, opts TrustRootOptions) (*TrustRoot, Outcome, error) {
	opts = opts.withDefaults()
	if opts.AnchorValidity < 0 || opts.IssuerValidity < 0 {
		return nil, Outcome{}, fmt.Errorf("certificate validity must be positive")
	}
	now := opts.Now()

	haveAnchor, err := exists(dir, AnchorName)
	if err != nil {
		return nil, Outcome{}, err
	}
	if !haveAnchor {
		if have, err := exists(dir, IssuerName); err != nil || have {
			if err == nil {
				err = fmt.Errorf("%s exists without its trust anchor %s; remove the directory to start a new trust root",
					filepath.Join(dir, IssuerName+".crt"), filepath.Join(dir, AnchorName+".crt"))
			}
			return nil, Outcome{}, err
		}
		tr, err := NewTrustRoot(opts.AnchorValidity, opts.IssuerValidity, now)
		if err != nil {
			return nil, Outcome{}, err
		}
		// The issuer is written first: a crash in between leaves an issuer
		// without an anchor, which the next run reports (naming the
		// directory to remove) rather than an anchor that looks complete.
		if err := tr.Issuer.Write(dir, IssuerName); err != nil {
			return nil, Outcome{}, err
		}
		if err := tr.Anchor.Write(dir, AnchorName); err != nil {
			return nil, Outcome{}, err
		}
		return tr, Outcome{AnchorCreated: true, IssuerIssued: true, Reason: "new"}, nil
	}

	anchor, err := ReadKeyPair(dir, AnchorName)
	if err != nil {
		return nil, Outcome{}, err
	}
	if err := checkAnchor(anchor.Cert, now); err != nil {
		return nil, Outcome{}, fmt.Errorf("%s: %w", filepath.Join(dir, AnchorName+".crt"), err)
	}

	reason := ""
	issuerPath := filepath.Join(dir, IssuerName+".crt")
	haveIssuer, err := exists(dir, IssuerName)
	if err != nil {
		return nil, Outcome{}, err
	}
	var issuer *KeyPair
	if !haveIssuer {
		reason = "new"
	} else {
		issuer, err = ReadKeyPair(dir, IssuerName)
		if err != nil {
			return nil, Outcome{}, err
		}
		if err := issuer.Cert.CheckSignatureFrom(anchor.Cert); err != nil {
			return nil, Outcome{}, fmt.Errorf("%s was not signed by the trust anchor in this directory; remove it to issue a new one: %w", issuerPath, err)
		}
		switch {
		case !now.Before(issuer.Cert.NotAfter):
			reason = "expired"
		case issuer.Cert.NotAfter.Sub(now) < renewWindow(issuer.Cert):
			reason = "near expiry"
		}
	}
	tr := &TrustRoot{Anchor: anchor, Issuer: issuer}
	if reason == "" {
		if err := tr.Verify(now); err != nil {
			return nil, Outcome{}, fmt.Errorf("%s: %w", issuerPath, err)
		}
		return tr, Outcome{}, nil
	}
	tr.Issuer, err = newIssuer(anchor, opts.IssuerValidity, now)
	if err != nil {
		return nil, Outcome{}, err
	}
	if err := tr.Issuer.Write(dir, IssuerName); err != nil {
		return nil, Outcome{}, err
	}
	return tr, Outcome{IssuerIssued: true, Reason: reason}, nil
}

// renewWindow is how long before expiry an issuer is re-issued: when
// `linkerd check` starts warning, but at most a third of the issuer's own
// lifetime so that short-lived issuers are not re-issued on every run.
func renewWindow(c *x509.Certificate) time.Duration {
	return min(expiryWarning, c.NotAfter.Sub(c.NotBefore)/3)
}

// LoadTrustRoot reads and validates the trust root in dir without changing it.
func LoadTrustRoot(dir string, now time.Time) (*TrustRoot, error) {
	anchor, err := ReadKeyPair(dir, AnchorName)
	if err != nil {
		return nil, err
	}
	if err := checkAnchor(anchor.Cert, now); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, AnchorName+".crt"), err)
	}
	issuer, err := ReadKeyPair(dir, IssuerName)
	if err != nil {
		return nil, err
	}
	tr := &TrustRoot{Anchor: anchor, Issuer: issuer}
	if err := tr.Verify(now); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, IssuerName+".crt"), err)
	}
	return tr, nil
}

// NewTrustRoot generates a trust anchor and an issuer signed by it.
func NewTrustRoot(anchorValidity, issuerValidity time.Duration, now time.Time) (*TrustRoot, error) {
	anchor, err := sign(template{
		subject:  pkix.Name{CommonName: AnchorCN},
		validity: anchorValidity,
		isCA:     true,
		keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, now)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	issuer, err := newIssuer(anchor, issuerValidity, now)
	if err != nil {
		return nil, err
	}
	return &TrustRoot{Anchor: anchor, Issuer: issuer}, nil
}

func newIssuer(anchor *KeyPair, validity time.Duration, now time.Time) (*KeyPair, error) {
	issuer, err := sign(template{
		subject:     pkix.Name{CommonName: IssuerCN},
		validity:    validity,
		isCA:        true,
		maxPathLen0: true, // it signs proxy leaf certificates only
		keyUsage:    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, anchor, now)
	if err != nil {
		return nil, fmt.Errorf("identity issuer: %w", err)
	}
	return issuer, nil
}

// Verify runs the checks Linkerd makes on install and in its identity
// controller (pkg/issuercerts VerifyAndBuildCreds, pkg/identity
// loadCredentials): P-256 keys with ECDSA-SHA256 signatures, the issuer is a
// CA inside its validity window, and its chain verifies against the anchor
// with an empty DNS name. The key/certificate match is checked on load.
func (tr *TrustRoot) Verify(now time.Time) error {
	if err := checkAnchor(tr.Anchor.Cert, now); err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	c := tr.Issuer.Cert
	if err := checkP256(c); err != nil {
		return err
	}
	if !c.IsCA {
		return errors.New("issuer is not a CA; Linkerd needs an intermediate CA")
	}
	if err := checkWindow(c, now); err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(tr.Anchor.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now}); err != nil {
		return fmt.Errorf("issuer does not verify against the trust anchor: %w", err)
	}
	return nil
}

func checkAnchor(c *x509.Certificate, now time.Time) error {
	if err := checkP256(c); err != nil {
		return err
	}
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("not a CA certificate that can sign certificates")
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		return fmt.Errorf("not a self-signed root: %w", err)
	}
	if err := checkWindow(c, now); err != nil {
		return fmt.Errorf("%w; a new trust anchor means reinstalling Linkerd on every cluster that shares it: remove the directory to start over", err)
	}
	return nil
}

func checkWindow(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return fmt.Errorf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(c.NotAfter) {
		return fmt.Errorf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
