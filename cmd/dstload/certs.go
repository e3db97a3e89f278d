package main

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dstload/dstload/certs"
)

func newCertsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Generate and inspect the Linkerd trust root",
		Long: `The trust root (trust anchor ca.crt/ca.key and identity issuer
issuer.crt/issuer.key) is shared by every cluster of an environment so that
clusters can be linked. 'dstload up' generates it when missing; these commands
manage it directly.`,
		Args: noArgs,
	}
	cmd.AddCommand(newCertsGenerateCmd(a), newCertsInspectCmd(a))
	return cmd
}

func (a *app) trustRootDir() string { return filepath.Join(a.envDir(), "certs") }

func newCertsGenerateCmd(a *app) *cobra.Command {
	var (
		dir            string
		issuerValidity time.Duration
		anchorValidity time.Duration
	)
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Create the trust root, or re-issue an expiring issuer",
		Long: `Creates a trust anchor and identity issuer when the directory has none.
An existing valid anchor is never replaced; an expired or nearly expired
issuer is re-issued from it. Private keys are written with mode 0600.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if issuerValidity <= 0 || anchorValidity <= 0 {
				return usageErrorf("--validity and --anchor-validity must be positive durations such as 8760h")
			}
			if issuerValidity > anchorValidity {
				return usageErrorf("--validity (%s) must not exceed --anchor-validity (%s)", issuerValidity, anchorValidity)
			}
			if dir == "" {
				dir = a.trustRootDir()
			}
			tr, outcome, err := certs.EnsureTrustRoot(dir, certs.TrustRootOptions{
				AnchorValidity: anchorValidity,
				IssuerValidity: issuerValidity,
			})
			if err != nil {
				return fmt.Errorf("generate trust root: %w", err)
			}
			switch {
			case outcome.AnchorCreated:
				fmt.Fprintf(a.out, "created trust anchor and issuer in %s\n", dir)
			case outcome.IssuerIssued:
				fmt.Fprintf(a.out, "kept trust anchor; issued a new issuer (%s) in %s\n", outcome.Reason, dir)
			default:
				fmt.Fprintf(a.out, "trust root in %s is valid; nothing changed\n", dir)
			}
			fmt.Fprintf(a.out, "anchor fingerprint (SHA-256): %s\n", tr.Anchor.Fingerprint())
			fmt.Fprintf(a.out, "issuer valid until %s\n", tr.Issuer.Cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "trust-root directory (default: the environment's certs directory)")
	cmd.Flags().DurationVar(&issuerValidity, "validity", certs.DefaultIssuerValidity, "validity of a newly issued issuer certificate")
	cmd.Flags().DurationVar(&anchorValidity, "anchor-validity", certs.DefaultAnchorValidity, "validity of a newly created trust anchor")
	return cmd
}

func newCertsInspectCmd(a *app) *cobra.Command {
	var (
		dir    string
		output string
	)
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show the trust root's subjects, fingerprints, validity and chain status",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if dir == "" {
				dir = a.trustRootDir()
			}
			in := certs.Inspect(dir, time.Now())
			if in.Anchor == nil && in.Issuer == nil {
				return usageErrorf("no trust root in %s; create one with 'dstload certs generate --dir %s'", dir, dir)
			}
			if output != "" {
				if err := writeOutput(a.out, output, in); err != nil {
					return err
				}
			} else {
				printInspection(a, in)
			}
			if !in.Valid {
				return fmt.Errorf("trust root in %s is not valid: %s", dir, in.Problem)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "trust-root directory (default: the environment's certs directory)")
	addOutputFlag(cmd, &output)
	return cmd
}

func printInspection(a *app, in *certs.Inspection) {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	for _, c := range []struct {
		role string
		info *certs.CertInfo
	}{{"trust anchor", in.Anchor}, {"issuer", in.Issuer}} {
		if c.info == nil {
			fmt.Fprintf(tw, "%s:\tmissing\n", c.role)
			continue
		}
		pathLen := "none"
		if c.info.MaxPathLen != nil {
			pathLen = fmt.Sprint(*c.info.MaxPathLen)
		}
		fmt.Fprintf(tw, "%s:\t%s\n", c.role, c.info.File)
		fmt.Fprintf(tw, "  subject\t%s\n", c.info.Subject)
		fmt.Fprintf(tw, "  issuer\t%s\n", c.info.Issuer)
		fmt.Fprintf(tw, "  SHA-256\t%s\n", c.info.FingerprintSHA256)
		fmt.Fprintf(tw, "  valid\t%s .. %s\n", c.info.NotBefore.Format(time.RFC3339), c.info.NotAfter.Format(time.RFC3339))
		fmt.Fprintf(tw, "  CA\t%t (path length limit: %s)\n", c.info.IsCA, pathLen)
		fmt.Fprintf(tw, "  key\t%s, signed %s\n", c.info.KeyAlgorithm, c.info.SignatureAlgorithm)
	}
	if in.Valid {
		fmt.Fprintf(tw, "chain:\tvalid\n")
	} else {
		fmt.Fprintf(tw, "chain:\tINVALID: %s\n", in.Problem)
	}
	tw.Flush()
}
