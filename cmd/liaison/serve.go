package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/buildinfo"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/policy"
)

func newServeCmd() *cobra.Command {
	var configPath, dataDir string
	var check bool
	cmd := &cobra.Command{
		Use:   "serve --config liaison.yaml",
		Short: "Run the gateway from a configuration file (production mode)",
		Long: `Run the gateway from liaison.yaml. Every setting can be overridden by an
environment variable named after its path, e.g. LIAISON_TLS_MIN_VERSION or
LIAISON_STORE_MINIO_BUCKET. Unknown keys and unknown LIAISON_* variables are
errors. See docs/configuration.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				configPath = os.Getenv("LIAISON_CONFIG")
			}
			if configPath == "" {
				return fmt.Errorf("--config is required (or LIAISON_CONFIG); `liaison dev` writes a working example")
			}
			cfg, err := config.Load(configPath, dataDir, os.Environ())
			if err != nil {
				return err
			}
			if check {
				return checkConfig(cmd, cfg)
			}
			log, err := newLogger(cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			g, err := gateway.Build(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer g.Close()
			return g.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "path of liaison.yaml")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/liaison", "base for the default paths of keys, store and audit log")
	cmd.Flags().BoolVar(&check, "check", false, "check the configuration, certificates and policy with this binary, then exit (before an upgrade; safe beside a running gateway)")
	return cmd
}

// checkConfig is `serve --check`: what this binary would refuse at start,
// found without starting — the configuration (strict keys), the TLS
// certificate, key and trust bundle, the signing key and the policy. It
// opens no store, key provider or audit log, so it can run on a node whose
// gateway is serving (the audit log has one writer).
func checkConfig(cmd *cobra.Command, cfg config.Config) error {
	if _, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
		return fmt.Errorf("tls.cert / tls.key: %w", err)
	}
	for _, f := range cfg.TLS.ClientCAs {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("tls.client_cas: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("tls.client_cas: %s holds no PEM certificate", f)
		}
	}
	// A missing signing key is created at a first start (and refused at a
	// start on a store that holds records); a present one must load.
	if _, err := os.Stat(cfg.Signing.Key); err == nil {
		if _, err := jose.LoadOrCreateSigner(cfg.Signing.Key); err != nil {
			return fmt.Errorf("signing.key: %w", err)
		}
	}
	eng, err := policy.New(cmd.Context(), policy.Options{Dir: cfg.Policy.Dir, Bundle: cfg.Policy.Bundle, TrustedKeys: cfg.Policy.TrustedKeys,
		RequiredSignatures: cfg.Policy.RequiredSignatures})
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	rev := eng.Revision()
	eng.Close()
	fmt.Fprintf(cmd.OutOrStdout(), "configuration OK: gateway %s, policy %s, liaison %s\n", cfg.GatewayID, rev, buildinfo.Get().Version)
	return nil
}
