package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/devnet"
)

// runDevFederation is `liaison dev --federation n`: it ensures the local
// federation in dir (package devnet), builds and runs its gateways in this
// process, prints where they are, and stops them all when ctx ends or any
// one of them fails.
//
// The LIAISON_* environment overlay of single dev is not applied: it would
// set the same value on every gateway (LIAISON_GATEWAY_ID, LIAISON_LISTEN…).
// Run a node with `liaison serve --config <data-dir>/<gateway>/liaison.yaml`
// to override its settings.
func runDevFederation(cmd *cobra.Command, abs, rel string, n, basePort int, logLevel string) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	opts := devnet.Options{Gateways: n, BasePort: basePort}
	if basePort == 0 {
		opts.Port = devnet.FreeLoopbackPort
	}
	dn, err := devnet.Ensure(ctx, abs, opts)
	if err != nil {
		return fmt.Errorf("dev federation: %w", err)
	}
	log, err := newLogger("console", logLevel)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck

	var gws []*gateway.Gateway
	defer func() {
		for i := len(gws) - 1; i >= 0; i-- {
			gws[i].Close()
		}
	}()
	for _, nd := range dn.Nodes {
		cfg := nd.Config
		cfg.Log = config.LogConfig{Format: "console", Level: logLevel}
		g, err := gateway.Build(ctx, cfg, log.Named(nd.ID), gateway.WithDevMode())
		if err != nil {
			return fmt.Errorf("%s: %w", nd.ID, err)
		}
		gws = append(gws, g)
	}

	type result struct {
		id  string
		err error
	}
	results := make(chan result, len(gws))
	for i, g := range gws {
		id := dn.Nodes[i].ID
		go func() { results <- result{id, g.Run(ctx)} }()
	}
	running := len(gws)
	// stop ends every gateway and returns the first failure, if any.
	stop := func(first error) error {
		cancel()
		for ; running > 0; running-- {
			if r := <-results; r.err != nil && first == nil {
				first = fmt.Errorf("%s: %w", r.id, r.err)
			}
		}
		if first != nil && strings.Contains(first.Error(), "address already in use") {
			return fmt.Errorf("%w (is another gateway running? choose other ports with --base-port)", first)
		}
		return first
	}
	for _, g := range gws {
		select {
		case <-g.Addr:
			<-g.AdminAddr
		case r := <-results:
			running--
			err := r.err
			if err == nil {
				err = errors.New("stopped before it listened")
			}
			return stop(fmt.Errorf("%s: %w", r.id, err))
		}
	}
	// The console: each agency's certificate as a PKCS#12 file for a
	// browser, beside its CLI profile.
	for _, nd := range dn.Nodes {
		for _, a := range nd.Agencies {
			if err := writeBrowserCert(filepath.Join(dn.ProfilesDir(), a+".p12"), nd.PKI, a); err != nil {
				return stop(err)
			}
		}
	}
	printFederationBanner(cmd.OutOrStdout(), dn, rel)
	r := <-results
	running--
	var first error
	if r.err != nil {
		first = fmt.Errorf("%s: %w", r.id, r.err)
	}
	return stop(first)
}

func printFederationBanner(w io.Writer, dn *devnet.Net, rel string) {
	pflag := ""
	if rel != defaultDevDir {
		// Client commands find profiles by --profile-dir (or
		// $LIAISON_PROFILE_DIR): the commands below work as printed.
		pflag = " --profile-dir " + filepath.Join(rel, "profiles")
	}
	fmt.Fprintf(w, "\nLiaison dev federation is running: %d gateways, each with its own PKI, keys, store, policy and audit log.\n", len(dn.Nodes))
	for _, nd := range dn.Nodes {
		fmt.Fprintf(w, `
  %s  (trust domain %s)
    agency API (mutual TLS)  %s
    console (browser)        %s/console/
    admin                    %s  (/healthz /readyz /metrics)
    federation (peers)       %s
    agencies                 %s
    data directory           %s  (liaison serve --config %s runs it alone)
`, nd.ID, nd.TrustDomain, nd.APIURL(), nd.APIURL(), nd.AdminURL(), nd.FederationURL(), strings.Join(nd.Agencies, ", "), nd.Dir, nd.ConfigFile)
	}
	fmt.Fprintf(w, `
  CLI profiles             %s/<agency>.yaml (each at the gateway hosting the agency)
  client certificates      <gateway>/pki/agencies/<agency>/{cert.pem,key.pem}
  for a browser            %s/<agency>.p12 (password %s; see docs/console.md)
`, dn.ProfilesDir(), dn.ProfilesDir(), devP12Password)

	met, hmrc, rocu := dn.Host("met-police"), dn.Host("hmrc"), dn.Host("rocu-nw")
	if met == nil || hmrc == nil || rocu == nil || met == hmrc {
		fmt.Fprintln(w, "\nStop with Ctrl-C; start again with the same command to keep the records.")
		return
	}
	metDir := filepath.Dir(met.PKI.AgencyCertFile("met-police"))
	hmrcDir := filepath.Dir(hmrc.PKI.AgencyCertFile("hmrc"))
	fmt.Fprintf(w, `
Try it (from the repository root, in another terminal):

  # publish at %[2]s as the Metropolitan Police, shared with HMRC (hosted by %[3]s)
  # and the North West ROCU (hosted by %[4]s); the record id is printed
  go run ./cmd/liaison records put%[1]s --profile met-police --file deploy/examples/record-federated.json

  # delivery state per recipient gateway: pending, delivered (with the receiver's
  # signed receipt), refused (with its public reasons) or failed
  go run ./cmd/liaison records status%[1]s --profile met-police <id>

  # read the copy at %[3]s as an HMRC officer: its own policy, keys and audit log
  TOKEN=$(go run ./cmd/liaison dev token%[1]s --profile hmrc --officer fi-201 --clearance SC)
  go run ./cmd/liaison records get%[1]s --profile hmrc --token "$TOKEN" --purpose investigation --justification "OP-NIGHTJAR consignment check" <id>

  # recall as the originator: every gateway holding a copy deletes it and acknowledges
  go run ./cmd/liaison records recall%[1]s --profile met-police <id>
  go run ./cmd/liaison records status%[1]s --profile met-police <id>

The same with curl (each agency talks to its own gateway, trusting that gateway's CA):

  curl --cacert %[5]s --cert %[6]s/cert.pem --key %[6]s/key.pem \
       -H 'Content-Type: application/json' --data @deploy/examples/record-federated.json %[7]s/v1/records
  curl --cacert %[8]s --cert %[9]s/cert.pem --key %[9]s/key.pem -H "Authorization: Bearer $TOKEN" \
       -H 'Liaison-Purpose: investigation' -H 'Liaison-Justification: OP-NIGHTJAR consignment check' %[10]s/v1/records/<id>
  curl --cacert %[5]s --cert %[6]s/cert.pem --key %[6]s/key.pem -X DELETE %[7]s/v1/records/<id>

Stop with Ctrl-C; start again with the same command to keep the records.
`, pflag, met.ID, hmrc.ID, rocu.ID,
		met.PKI.CAFile, metDir, met.APIURL(),
		hmrc.PKI.CAFile, hmrcDir, hmrc.APIURL())
}
