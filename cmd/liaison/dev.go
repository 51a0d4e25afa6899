package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/policy"
)

const defaultDevDir = ".liaison-dev"

func newDevCmd() *cobra.Command {
	var (
		dataDir, listen, adminListen, logLevel string
		federation, basePort                   int
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a complete gateway on embedded defaults (dev PKI, local keys, filesystem store, bundled policies)",
		Long: `Run a gateway with everything embedded: a generated development federation
(CA, gateway certificate, a client certificate and an officer-token signing key
for each demo agency), a local keyring, a filesystem object store, the bundled
policies and demo DSAs. Everything lives in the data directory; restarting
with the same directory keeps the records. Not for production: the keyring is a
file beside the data it protects.

With --federation N (2 to 5), run a local federation instead: N gateways in
this process, each with its own gateway id and trust domain, PKI, keyring,
store, audit log and signing key, the demo agencies split between them and
every gateway declared as a peer of the others (package gateway/devnet).
Gateway i listens for peer gateways on --base-port+i, for agencies on
--base-port+1000+i and for the admin endpoints on --base-port+2000+i
(7443+i, 8443+i, 9443+i by default; --base-port 0 chooses free ports).
Each gateway's data and liaison.yaml are in <data-dir>/<gateway id>; the
agencies' CLI profiles in <data-dir>/profiles point at the gateway hosting
each agency. Single and federated dev share the profiles directory: the last
one started wrote them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("federation") {
				if cmd.Flags().Changed("listen") || cmd.Flags().Changed("admin-listen") {
					return fmt.Errorf("--listen and --admin-listen are for a single dev gateway; with --federation use --base-port")
				}
				return runDevFederation(cmd, abs, dataDir, federation, basePort, logLevel)
			}
			eng, err := policy.New(ctx, policy.Options{})
			if err != nil {
				return fmt.Errorf("bundled policy: %w", err)
			}
			agencies := eng.Agencies()
			sort.Strings(agencies)
			fed, err := pki.EnsureDevFederation(filepath.Join(abs, "pki"), pki.DevOptions{Agencies: agencies})
			if err != nil {
				return fmt.Errorf("dev federation: %w", err)
			}
			cfg := config.Defaults(abs)
			cfg.Listen, cfg.AdminListen = listen, adminListen
			cfg.TLS.Cert, cfg.TLS.Key = fed.GatewayCertFile, fed.GatewayKeyFile
			cfg.TLS.ClientCAs, cfg.TLS.CRLs = []string{fed.CAFile}, []string{fed.CRLFile}
			cfg.Officers.JWKSDir = fed.JWKSDir
			cfg.Console.DevIdP, cfg.Console.DevIdPDir = true, fed.Dir
			cfg.Log = config.LogConfig{Format: "console", Level: logLevel}
			if err := config.ApplyEnv(&cfg, os.Environ()); err != nil {
				return err
			}
			if cfg.Officers.Audience == "" {
				cfg.Officers.Audience = cfg.GatewayID
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			if err := writeDevFiles(abs, cfg, fed, agencies); err != nil {
				return err
			}
			log, err := newLogger(cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck
			g, err := gateway.Build(ctx, cfg, log, gateway.WithDevMode())
			if err != nil {
				return err
			}
			defer g.Close()
			errc := make(chan error, 1)
			go func() { errc <- g.Run(ctx) }()
			select {
			case addr := <-g.Addr:
				admin := <-g.AdminAddr
				printDevBanner(cmd.OutOrStdout(), abs, dataDir, addr, admin, fed, agencies)
			case err := <-errc:
				if err != nil && strings.Contains(err.Error(), "address already in use") {
					return fmt.Errorf("%w (is another gateway running? choose other ports with --listen and --admin-listen)", err)
				}
				return err
			}
			return <-errc
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDevDir, "where the dev federation, keys, records and audit log live")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "agency API (mutual TLS)")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "127.0.0.1:9443", "admin endpoints: /healthz /readyz /metrics")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().IntVar(&federation, "federation", 0, "run a local federation of this many gateways (2 to 5) instead of one gateway")
	cmd.Flags().IntVar(&basePort, "base-port", devnet.DefaultBasePort,
		"with --federation: gateway i listens on base+i (federation), base+1000+i (agency API), base+2000+i (admin); 0 chooses free ports")
	cmd.AddCommand(newDevTokenCmd())
	return cmd
}

// profile is what the CLI needs to talk to a gateway as one agency; one
// type for the single dev gateway and the local federation.
type profile = devnet.Profile

func writeDevFiles(dir string, cfg config.Config, fed *pki.DevFederation, agencies []string) error {
	host, port, _ := net.SplitHostPort(cfg.Listen)
	if host == "127.0.0.1" || host == "" || host == "0.0.0.0" {
		host = "localhost"
	}
	pdir := filepath.Join(dir, "profiles")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return err
	}
	for _, a := range agencies {
		p := profile{Endpoint: "https://" + net.JoinHostPort(host, port), Agency: a,
			Cert: fed.AgencyCertFile(a), Key: fed.AgencyKeyFile(a), CA: fed.CAFile,
			OfficerKey: fed.OfficerKeyFile(a), Audience: cfg.Officers.Audience}
		b, _ := yaml.Marshal(p)
		if err := os.WriteFile(filepath.Join(pdir, a+".yaml"), b, 0o600); err != nil {
			return err
		}
		if err := writeBrowserCert(filepath.Join(pdir, a+".p12"), fed, a); err != nil {
			return err
		}
	}
	// The effective configuration, so `liaison serve --config` runs the
	// same gateway and operators have a complete example to start from.
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	head := "# Written by `liaison dev`: the effective configuration of this dev gateway.\n# `liaison serve --config " + filepath.Join(dir, "liaison.yaml") + "` runs the same gateway.\n"
	return os.WriteFile(filepath.Join(dir, "liaison.yaml"), append([]byte(head), b...), 0o600)
}

// devP12Password protects the dev PKCS#12 files. It is printed in the
// banner and docs/console.md: the files are for importing into a browser
// on the developer's machine (mode 0600, dev certificates only), where
// browsers insist on a password.
const devP12Password = "liaison-dev"

// writeBrowserCert writes agency's dev client certificate, its key and the
// dev CA as a PKCS#12 file a person imports into Firefox or Chromium to
// open the console (the console is on the mutual-TLS listener).
func writeBrowserCert(path string, fed *pki.DevFederation, agency string) error {
	pair, err := tls.LoadX509KeyPair(fed.AgencyCertFile(agency), fed.AgencyKeyFile(agency))
	if err != nil {
		return fmt.Errorf("browser certificate of %s: %w", agency, err)
	}
	caPEM, err := os.ReadFile(fed.CAFile)
	if err != nil {
		return err
	}
	var cas []*x509.Certificate
	if blk, _ := pem.Decode(caPEM); blk != nil {
		if ca, err := x509.ParseCertificate(blk.Bytes); err == nil {
			cas = append(cas, ca)
		}
	}
	// Modern2023 (PBES2, AES-256, PBKDF2-SHA-256): what OpenSSL 3,
	// Firefox (NSS) and Chromium read.
	pfx, err := pkcs12.Modern2023.Encode(pair.PrivateKey, pair.Leaf, cas, devP12Password)
	if err != nil {
		return fmt.Errorf("browser certificate of %s: %w", agency, err)
	}
	return os.WriteFile(path, pfx, 0o600)
}

func printDevBanner(w io.Writer, abs, rel string, addr, admin net.Addr, fed *pki.DevFederation, agencies []string) {
	_, port, _ := net.SplitHostPort(addr.String())
	url := "https://localhost:" + port
	pflag := ""
	if rel != defaultDevDir {
		// Client commands find profiles by --profile-dir (or
		// $LIAISON_PROFILE_DIR): the commands below work as printed.
		pflag = " --profile-dir " + filepath.Join(rel, "profiles")
	}
	ag := func(a string) string { return filepath.Join(fed.Dir, "agencies", a) }
	fmt.Fprintf(w, `
Liaison dev gateway is running.
  agency API (mutual TLS)  %s
  admin                    http://%s  (/healthz /readyz /metrics)
  data directory           %s
  federation CA            %s
  agencies                 %s
  client certificates      %s/<agency>/{cert.pem,key.pem}
  CLI profiles             %s/<agency>.yaml
  audit log                %s  (liaison audit verify --dir …)

Try it (from the repository root, in another terminal):

  # publish as the Metropolitan Police, shared with the North West ROCU
  go run ./cmd/liaison records put%s --profile met-police --file deploy/examples/record.json

  # read it as an officer of the ROCU (OFFICIAL-SENSITIVE: need-to-know needs a named officer;
  # purpose and justification reach the policy and the audit log)
  TOKEN=$(go run ./cmd/liaison dev token%s --profile rocu-nw --officer ds-101 --clearance SC)
  go run ./cmd/liaison records get%s --profile rocu-nw --token "$TOKEN" --purpose investigation --justification "OP-NIGHTJAR tasking" <id>

  # HMRC is not a recipient: 404, the record's existence is not revealed
  go run ./cmd/liaison records get%s --profile hmrc --purpose investigation --justification "check" <id>

  # list what you may read; recall as the originator
  go run ./cmd/liaison records list%s --profile rocu-nw
  go run ./cmd/liaison records recall%s --profile met-police <id>

  # an officer token (JWT signed by the agency's key) for the policy dry run
  go run ./cmd/liaison records decide%s --profile met-police --token "$(go run ./cmd/liaison dev token%s --profile met-police --officer so-1 --clearance SC --roles security_officer)" --file deploy/examples/decision-input.json

The same with curl:

  curl --cacert %s --cert %s/cert.pem --key %s/key.pem \
       -H 'Content-Type: application/json' --data @deploy/examples/record.json %s/v1/records
  curl --cacert %s --cert %s/cert.pem --key %s/key.pem -H "Authorization: Bearer $TOKEN" \
       -H 'Liaison-Purpose: investigation' -H 'Liaison-Justification: OP-NIGHTJAR tasking' %s/v1/records/<id>

The console (a browser; sign in with the dev identity provider):

  %s/console/
  1. import %s/<agency>.p12 (password %s) into the browser:
     Firefox: Settings > Privacy & Security > Certificates > View Certificates > Your Certificates > Import
     Chromium: Settings > Privacy and security > Security > Manage certificates > Your certificates > Import
  2. trust the dev CA %s for websites (Authorities > Import), or accept the warning once
  3. open the URL and choose the agency's certificate; signing in takes you to the dev identity
     provider: pick a dev officer (dev-auditor, dev-dpo, dev-security, dev-registry, dev-analyst)

Stop with Ctrl-C; start again with the same command to keep the records.
`, url, admin.String(), abs, fed.CAFile, strings.Join(agencies, ", "), filepath.Join(fed.Dir, "agencies"),
		filepath.Join(abs, "profiles"), filepath.Join(abs, "audit"),
		pflag, pflag, pflag, pflag, pflag, pflag, pflag, pflag,
		fed.CAFile, ag("met-police"), ag("met-police"), url,
		fed.CAFile, ag("rocu-nw"), ag("rocu-nw"), url,
		url, filepath.Join(abs, "profiles"), devP12Password, fed.CAFile)
}

func newDevTokenCmd() *cobra.Command {
	var (
		cf                                       clientFlags
		officer, clearance, vetting, nationality string
		audience                                 string
		roles                                    []string
		ttl                                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token --profile AGENCY --officer ID",
		Short: "Issue a dev officer token (a JWT signed with the agency's dev key)",
		Long: `Issue an officer token as the agency's identity provider would: signed with the
agency's dev signing key, issuer = the agency, audience = the gateway. The
audience is --audience, else the profile's, else gw-dev; it must equal the
gateway's officers.audience (default its gateway_id). Prints the token only,
so it can be used as --token "$(liaison dev token …)".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := cf.profile()
			if err != nil {
				return err
			}
			if p.OfficerKey == "" {
				return fmt.Errorf("profile %s has no officer_key (dev profiles have one)", cf.profileName)
			}
			if officer == "" {
				return fmt.Errorf("--officer is required")
			}
			key, err := jose.LoadPrivateJWK(p.OfficerKey)
			if err != nil {
				return err
			}
			// --audience first: a gateway configured by hand (e.g.
			// deploy/liaison.example.yaml) has another gateway id than the
			// dev gateway that wrote the profile.
			aud := audience
			if aud == "" {
				aud = p.Audience
			}
			if aud == "" {
				aud = "gw-dev"
			}
			tok, err := jose.IssueOfficerToken(key, p.Agency, aud, jose.Officer{ID: officer, Agency: p.Agency, Clearance: clearance,
				Vetting: vetting, Nationality: nationality, Roles: roles}, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cf.register(cmd, false)
	cmd.Flags().StringVar(&officer, "officer", "", "officer id (sub)")
	cmd.Flags().StringVar(&clearance, "clearance", "", "BPSS, SC, eSC, DV or eDV")
	cmd.Flags().StringVar(&vetting, "vetting", "", "RV, MV, NPPV1, NPPV2 or NPPV3")
	cmd.Flags().StringVar(&nationality, "nationality", "", "ISO 3166 alpha-3, e.g. GBR")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "roles, e.g. analyst,security_officer")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "lifetime")
	cmd.Flags().StringVar(&audience, "audience", "", "aud claim: the gateway's officers.audience (default its gateway_id); default the profile's audience")
	return cmd
}
