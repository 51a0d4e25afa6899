package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
)

func newServeCmd() *cobra.Command {
	var configPath, dataDir string
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
	return cmd
}
