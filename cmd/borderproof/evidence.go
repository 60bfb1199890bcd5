package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/borderproof/borderproof/internal/evidence"
)

// evidenceCmd checks evidence bundles offline, with nothing but the
// bundle and the service's public key (GET /evidence/public-key.pem).
func evidenceCmd() *cobra.Command {
	root := &cobra.Command{Use: "evidence", Short: "Check evidence bundles offline"}
	var keyFile string
	verify := &cobra.Command{
		Use:   "verify BUNDLE.tar",
		Short: "Check a bundle's signature and every sealed answer's digest; print its manifest",
		Long: "Checks a bundle as downloaded from a verification's evidence link: the Ed25519\n" +
			"signature over manifest.json under --public-key, the manifest's layout, and the\n" +
			"SHA-256 digest and size of every sealed partner answer it lists. Prints the\n" +
			"manifest as JSON when everything holds; exits 1 and names each fault otherwise.\n" +
			"Reads the bundle from standard input when BUNDLE is -.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			pub, err := evidence.ParsePublicKey(keyPEM)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			in := cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			bundle, err := io.ReadAll(io.LimitReader(in, evidence.MaxItemSize+1))
			if err != nil {
				return err
			}
			m, err := evidence.VerifyBundle(bundle, pub)
			if err != nil {
				return fmt.Errorf("%s does not verify: %w", args[0], err)
			}
			out := struct {
				Verified bool   `json:"verified"`
				Digest   string `json:"manifestSha256"`
				evidence.Manifest
			}{true, m.Digest, m}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		},
	}
	verify.Flags().StringVar(&keyFile, "public-key", "", "the service's evidence public key (PEM), as GET /evidence/public-key.pem serves it")
	_ = verify.MarkFlagRequired("public-key")
	root.AddCommand(verify)
	return root
}
