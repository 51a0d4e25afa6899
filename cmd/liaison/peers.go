package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/federation"
)

// peerFlags locate the gateway the peers commands act on: its
// configuration (peers_dir, manifest_file, admin_listen) and, for list and
// show, its admin listener.
type peerFlags struct {
	config, dataDir, admin string
	json                   bool
}

func (f *peerFlags) registerConfig(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway (default $LIAISON_CONFIG)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve (without --config: the defaults under it)")
}

func (f *peerFlags) load() (config.Config, error) {
	if f.config == "" {
		f.config = os.Getenv("LIAISON_CONFIG")
	}
	return config.Load(f.config, f.dataDir, os.Environ())
}

func newPeersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "Peer gateways: add (import a signed manifest), list, show, remove; manifest (this gateway's)",
		Long: `Peer gateways are declared in liaison.yaml (federation.peers) or imported from
their signed manifests. A manifest is pinned by the fingerprint of the key
that signs it, exchanged between the operators out of band (by telephone,
on paper): run 'liaison peers manifest' at each gateway and hand the file
and the fingerprint to the other operator, who runs 'liaison peers add'.
The running gateway picks up an import or a removal within
federation.reload_interval, without a restart, and refreshes each imported
peer's manifest from the peer itself (verified under the same pin).`,
	}
	cmd.AddCommand(newPeersAddCmd(), newPeersListCmd(), newPeersShowCmd(), newPeersRemoveCmd(), newPeersManifestCmd())
	return cmd
}

func newPeersAddCmd() *cobra.Command {
	var f peerFlags
	var fingerprint string
	cmd := &cobra.Command{
		Use:   "add <manifest file> --fingerprint <thumbprint>",
		Short: "Import a peer gateway's signed manifest, pinned by its signing key's fingerprint",
		Long: `Verifies the manifest's signature by the key with the given fingerprint (RFC
7638 thumbprint, as 'liaison peers manifest' prints it at the peer), its
expiry, that it is not this gateway's or a peer's declared in liaison.yaml,
and that none of its agencies is hosted here or by another peer; then
writes it to <federation.peers_dir>/<gateway id>.jws (mode 0600).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if fingerprint == "" {
				return fmt.Errorf("--fingerprint is required: the peer's operator reads it from 'liaison peers manifest'")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			m, path, err := federation.ImportManifest(cfg, b, fingerprint, time.Now())
			if err != nil {
				return err
			}
			v := map[string]any{"gateway_id": m.GatewayID, "endpoint": m.Endpoint, "agencies": m.Agencies,
				"expires": m.Manifest.Expires, "fingerprint": m.Fingerprint, "file": path}
			printResult(f.json, v, fmt.Sprintf("imported peer %s (%s), hosting %s, manifest valid until %s\nwritten to %s; the running gateway picks it up within %s",
				m.GatewayID, m.Endpoint, strings.Join(m.Agencies, ", "), m.Manifest.Expires, path, cfg.Federation.ReloadInterval))
			return nil
		},
	}
	f.registerConfig(cmd)
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "the peer's signing key fingerprint, exchanged out of band (required)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	return cmd
}

func newPeersRemoveCmd() *cobra.Command {
	var f peerFlags
	cmd := &cobra.Command{
		Use:   "remove <gateway id>",
		Short: "Remove an imported peer (its manifest); a peer declared in liaison.yaml is removed there",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			path, err := federation.RemoveManifest(cfg, args[0])
			if err != nil {
				return err
			}
			printResult(f.json, map[string]any{"gateway_id": args[0], "removed": path},
				fmt.Sprintf("removed %s; the running gateway drops peer %s within %s (messages queued for it stay queued)",
					path, args[0], cfg.Federation.ReloadInterval))
			return nil
		},
	}
	f.registerConfig(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
	return cmd
}

func newPeersManifestCmd() *cobra.Command {
	var f peerFlags
	cmd := &cobra.Command{
		Use:   "manifest",
		Short: "Print this gateway's signed manifest and its fingerprint, to hand to a peer's operator",
		Long: `Prints the manifest the gateway wrote to federation.manifest_file (at start,
and whenever it re-signs it) on stdout, and its fingerprint on stderr:

  liaison peers manifest --config liaison.yaml > gw.manifest.jws

Hand the file over by any channel, and the fingerprint by another one the
peer's operator can trust (it is what pins this gateway at the peer).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return err
			}
			m, err := federation.ReadOwnManifest(cfg)
			if err != nil {
				return err
			}
			if f.json {
				printResult(true, map[string]any{"gateway_id": m.GatewayID, "fingerprint": m.Fingerprint, "issued": m.Manifest.Issued,
					"expires": m.Manifest.Expires, "manifest": string(m.JWS)}, "")
				return nil
			}
			fmt.Fprintf(os.Stderr, "gateway %s, manifest valid until %s\nfingerprint: %s\n", m.GatewayID, m.Manifest.Expires, m.Fingerprint)
			if m.Expired(time.Now()) {
				fmt.Fprintln(os.Stderr, "warning: this manifest has expired: start the gateway to re-sign it")
			}
			fmt.Println(string(m.JWS))
			return nil
		},
	}
	f.registerConfig(cmd)
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON (manifest, fingerprint, expiry) on stdout")
	return cmd
}

func (f *peerFlags) registerAdmin(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.admin, "admin", "", "the gateway's admin listener (default: http://<admin_listen> of --config, else http://127.0.0.1:9443)")
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway, for its admin_listen")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
}

// states reads GET /federation/peers from the running gateway's admin
// listener.
func (f *peerFlags) states(cmd *cobra.Command) ([]federation.PeerState, error) {
	base := f.admin
	if base == "" {
		base = "http://127.0.0.1:9443"
		if f.config != "" || os.Getenv("LIAISON_CONFIG") != "" {
			cfg, err := f.load()
			if err != nil {
				return nil, err
			}
			base = "http://" + cfg.AdminListen
		}
	}
	base = strings.TrimSuffix(base, "/")
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, base+"/federation/peers", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the gateway's admin listener (%s) does not answer: %w", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s: the gateway does not federate (federation.listen is not set)", base)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/federation/peers: %s", base, resp.Status)
	}
	var out []federation.PeerState
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s/federation/peers: %w", base, err)
	}
	if out == nil {
		out = []federation.PeerState{}
	}
	return out, nil
}

func newPeersListCmd() *cobra.Command {
	var f peerFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Each peer's state, from the running gateway: reachable, last contact, queued messages, manifest expiry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			states, err := f.states(cmd)
			if err != nil {
				return err
			}
			if f.json {
				printResult(true, states, "")
				return nil
			}
			if len(states) == 0 {
				fmt.Println("no peers")
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tSOURCE\tREACHABLE\tLAST CONTACT\tQUEUED\tMANIFEST EXPIRES\tAGENCIES")
			for _, s := range states {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.ID, s.Source, yesNo(s.Reachable), when(s.LastContact), s.Queued,
					expiry(s), strings.Join(s.Agencies, ","))
			}
			return tw.Flush()
		},
	}
	f.registerAdmin(cmd)
	return cmd
}

func newPeersShowCmd() *cobra.Command {
	var f peerFlags
	cmd := &cobra.Command{
		Use:   "show <gateway id>",
		Short: "One peer's state, from the running gateway",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			states, err := f.states(cmd)
			if err != nil {
				return err
			}
			for _, s := range states {
				if s.ID != args[0] {
					continue
				}
				var b strings.Builder
				fmt.Fprintf(&b, "peer:             %s\n", s.ID)
				fmt.Fprintf(&b, "source:           %s\n", s.Source)
				fmt.Fprintf(&b, "endpoint:         %s\n", s.Endpoint)
				fmt.Fprintf(&b, "trust domain:     %s\n", s.TrustDomain)
				fmt.Fprintf(&b, "agencies:         %s\n", strings.Join(s.Agencies, ", "))
				fmt.Fprintf(&b, "reachable:        %s\n", yesNo(s.Reachable))
				fmt.Fprintf(&b, "last contact:     %s\n", when(s.LastContact))
				fmt.Fprintf(&b, "queued:           %d\n", s.Queued)
				if s.LastError != "" {
					fmt.Fprintf(&b, "last error:       %s\n", s.LastError)
				}
				if s.Source == "manifest" {
					fmt.Fprintf(&b, "fingerprint:      %s\n", s.Fingerprint)
					fmt.Fprintf(&b, "manifest expires: %s\n", expiry(s))
				}
				printResult(f.json, s, strings.TrimSuffix(b.String(), "\n"))
				return nil
			}
			return fmt.Errorf("%s is not a peer of this gateway", args[0])
		},
	}
	f.registerAdmin(cmd)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func expiry(s federation.PeerState) string {
	switch {
	case s.ManifestExpires.IsZero():
		return "-"
	case s.ManifestExpired:
		return s.ManifestExpires.UTC().Format(time.RFC3339) + " (EXPIRED: shares refused, recalls pass)"
	}
	return s.ManifestExpires.UTC().Format(time.RFC3339)
}
