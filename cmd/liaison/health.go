package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"
)

// newHealthCmd is the container healthcheck: the image has no shell and no
// curl, so the binary asks its own admin listener (compose's and Docker's
// HEALTHCHECK run `/liaison health`; Kubernetes probes call the URL itself).
func newHealthCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health [--url http://127.0.0.1:9443/readyz]",
		Short: "Exit 0 when a gateway's admin endpoint answers 200 (a container healthcheck)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return probeHealth(cmd.Context(), target, timeout, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&target, "url", "http://127.0.0.1:9443/readyz", "the admin endpoint to ask (/readyz or /healthz)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// probeHealth GETs target and succeeds only on 200, writing the status to out.
func probeHealth(ctx context.Context, target string, timeout time.Duration, out io.Writer) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: must be an http(s) URL", target)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", u.Redacted(), resp.Status, body)
	}
	fmt.Fprintf(out, "%s: %s\n", u.Redacted(), resp.Status)
	return nil
}
