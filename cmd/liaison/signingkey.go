package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/config"
)

// newSigningKeyCmd is the gateway signing key's rotation (docs/operations.md):
// make the next key, publish public key sets for signing.verify_keys, and
// re-sign every record once every node signs with the new key.
func newSigningKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing-key",
		Short: "The gateway signing key: create the next key, print public key sets (for signing.verify_keys)",
		Long: `Rotating the gateway signing key without breaking verification (details in
docs/operations.md):

  1. liaison keys signing-key new --out next.jwk.json --public next.jwks.json
  2. every node: signing.verify_keys += next.jwks.json; rolling restart
  3. liaison keys signing-key public --config liaison.yaml > previous.jwks.json
     every node: signing.key = next.jwk.json, signing.verify_keys = [previous.jwks.json]; rolling restart
  4. liaison keys resign --config liaison.yaml     (re-signs every record)
  5. every node: drop previous.jwks.json from signing.verify_keys; rolling restart`,
	}
	cmd.AddCommand(newSigningKeyNewCmd(), newSigningKeyPublicCmd())
	return cmd
}

func newSigningKeyNewCmd() *cobra.Command {
	var out, public string
	cmd := &cobra.Command{
		Use:   "new --out FILE [--public FILE]",
		Short: "Create an Ed25519 signing key (private JWK, mode 0600) and its public key set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required (the private key file to create)")
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: a signing key is never overwritten", out)
			}
			s, err := jose.LoadOrCreateSigner(out)
			if err != nil {
				return err
			}
			pub, err := s.PublicJWKS()
			if err != nil {
				return err
			}
			if public != "" {
				if err := os.WriteFile(public, append(pub, '\n'), 0o644); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), string(pub))
			}
			fmt.Fprintf(os.Stderr, "signing key %s created (kid %s)\n", out, s.KeyID())
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to create")
	cmd.Flags().StringVar(&public, "public", "", "write the public key set here (default: stdout)")
	return cmd
}

func newSigningKeyPublicCmd() *cobra.Command {
	var cfgPath, dataDir string
	cmd := &cobra.Command{
		Use:   "public --config liaison.yaml",
		Short: "Print the public key set of the configured signing key (for another node's signing.verify_keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				cfgPath = os.Getenv("LIAISON_CONFIG")
			}
			if cfgPath == "" {
				return errors.New("--config is required (the gateway's liaison.yaml)")
			}
			cfg, err := config.Load(cfgPath, dataDir, os.Environ())
			if err != nil {
				return err
			}
			if _, err := os.Stat(cfg.Signing.Key); err != nil {
				return fmt.Errorf("signing.key: %w", err)
			}
			s, err := jose.LoadOrCreateSigner(cfg.Signing.Key)
			if err != nil {
				return err
			}
			pub, err := s.PublicJWKS()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(pub))
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "liaison.yaml of the gateway")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	return cmd
}

func newKeysResignCmd() *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use:   "resign --config liaison.yaml",
		Short: "Re-sign every record's metadata with the current signing key (after a rotation; resumable)",
		Long: `Loads every record (its signature checked under the signing key or any key of
signing.verify_keys) and writes it again signed by the current signing key.
A record that fails its check is named and left alone. With the local
keyring, stop the dev gateway first (the keyring is locked while it runs).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.agency != "" {
				return errors.New("resign acts on every record: --agency does not apply")
			}
			k, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer k.Close()
			progress, finish := recordProgress("resign", f.json())
			st, err := k.Resign(cmd.Context(), progress)
			finish()
			if err != nil {
				return fmt.Errorf("resign stopped after %d records (run it again): %w", st.Scanned, err)
			}
			printResult(f.json(), st, fmt.Sprintf("scanned %d records: %d re-signed with key %s, %d gone, %d failed their check",
				st.Scanned, st.Resigned, st.KeyID, st.Gone, st.Failed))
			return recordFailures(st.Failed, st.Errors)
		},
	}
	f.register(cmd, false)
	_ = cmd.Flags().MarkHidden("agency")
	return cmd
}
