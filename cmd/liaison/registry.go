package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
)

// Registry commands (docs/registry.md): clients of the agency API, run as
// a registry administrator — an officer of an agency the registry marks
// registry_admin, with a role in settings.registry_admin_roles — through
// the usual profile and --token.

// registryFlags are the client flags plus --json.
type registryFlags struct {
	clientFlags
	json bool
}

func (f *registryFlags) register(cmd *cobra.Command) {
	f.clientFlags.register(cmd, true)
	cmd.Flags().BoolVar(&f.json, "json", false, "print the gateway's JSON answer (same as -o json)")
}

func (f *registryFlags) client() (*client, error) {
	if f.json {
		f.output = "json"
	}
	return f.clientFlags.client()
}

func newAgencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agency",
		Short: "The gateway's registry of agencies: add (with its CA and officer-token keys), list, show, suspend, activate, remove",
		Long: `Change the gateway's registry of agencies through its API. Every change is
decided by the policy (registry administrators only), checked against the
agency schema, audited with who made it and the old and new state, and in
force on every replica of the gateway within a second, without a restart.`,
	}
	cmd.AddCommand(newAgencyAddCmd(), newAgencyListCmd(), newAgencyShowCmd(),
		newAgencyStateCmd("suspend", "Suspend an agency: its requests are refused (403) until it is activated"),
		newAgencyStateCmd("activate", "Activate a suspended agency"),
		newAgencyStateCmd("remove", "Remove an agency the registry added (its CA is no longer trusted)"))
	return cmd
}

func newAgencyAddCmd() *cobra.Command {
	var (
		f                                         registryFlags
		name, typ, country, clearance             string
		caCert, csr, devPKI, certOut, trustDomain string
		jwksFile, jwksURL, clientKey, officerKey  string
		competent, requireToken, noProfile        bool
	)
	cmd := &cobra.Command{
		Use:   "add ID --name NAME --type TYPE --country CCC (--ca-cert PEM | --csr CSR) [--jwks FILE | --jwks-url URL]",
		Short: "Add an agency with its trust anchor and officer-token keys",
		Long: `Add an agency to the gateway's registry.

Production: --ca-cert is the agency's own CA certificate (PEM); the gateway
trusts client certificates it issues for that agency only.

Dev: --csr is a certificate signing request for the agency's client key; the
dev federation CA (--dev-pki, default the pki directory beside the profile
directory) issues the agency's client certificate, written to --cert-out.
With --client-key (the key of the CSR) a CLI profile for the agency is
written to the profile directory, so its commands run with --profile ID.

Officer tokens: --jwks FILE (the public key set of the agency's identity
provider) or --jwks-url (fetched by the gateway, cached with expiry).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if (caCert == "") == (csr == "") {
				return errors.New("give exactly one of --ca-cert (the agency's own CA) or --csr (dev: issued by the dev federation CA)")
			}
			req := api.AgencyAdd{ID: id, Name: name, Type: typ, Country: country, Clearance: clearance,
				RequireOfficerToken: requireToken, JWKSURL: jwksURL}
			if cmd.Flags().Changed("competent-authority") {
				req.CompetentAuthority = &competent
			}
			if caCert != "" {
				b, err := os.ReadFile(caCert)
				if err != nil {
					return err
				}
				req.CACert = string(b)
			}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return err
				}
				if !json.Valid(b) {
					return fmt.Errorf("%s is not JSON", jwksFile)
				}
				req.JWKS = b
			}
			var issued []byte
			if csr != "" {
				b, err := os.ReadFile(csr)
				if err != nil {
					return err
				}
				dir := devPKI
				if dir == "" {
					dir = filepath.Join(filepath.Dir(f.profileDir()), "pki")
				}
				if issued, err = pki.IssueAgencyFromCSR(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), trustDomain, id, b); err != nil {
					return fmt.Errorf("issuing from %s with the dev federation CA in %s: %w", csr, dir, err)
				}
				if certOut == "" {
					certOut = id + "-cert.pem"
				}
				if err := os.WriteFile(certOut, issued, 0o644); err != nil {
					return err
				}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(req)
			var ch api.RegistryChanged
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodPost, "/v1/registry/agencies", body, http.StatusOK, &ch); printed || err != nil {
				return err
			}
			printChange(os.Stdout, &ch)
			if issued != nil {
				fmt.Printf("  client certificate (dev federation CA): %s\n", certOut)
				if clientKey != "" && !noProfile {
					path, err := writeAgencyProfile(&f.clientFlags, id, certOut, clientKey, officerKey)
					if err != nil {
						return err
					}
					fmt.Printf("  CLI profile: %s (use --profile %s)\n", path, id)
				}
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the agency's name")
	fl.StringVar(&typ, "type", "", "agency type (org_type), e.g. foreign_le; the registry's enumeration")
	fl.StringVar(&country, "country", "", "ISO 3166-1 alpha-3 country, e.g. SLE")
	fl.StringVar(&clearance, "clearance", "", "system clearance assumed without an officer token (BPSS, SC, …)")
	fl.BoolVar(&competent, "competent-authority", true, "a competent authority for law-enforcement processing")
	fl.BoolVar(&requireToken, "require-officer-token", false, "every request must carry an officer token")
	fl.StringVar(&caCert, "ca-cert", "", "the agency's own CA certificate (PEM): production")
	fl.StringVar(&csr, "csr", "", "dev: a CSR for the agency's client key, signed by the dev federation CA")
	fl.StringVar(&devPKI, "dev-pki", "", "dev: the dev federation's pki directory (default <profile-dir>/../pki)")
	fl.StringVar(&trustDomain, "trust-domain", "liaison.dev", "dev: the trust domain of the issued certificate")
	fl.StringVar(&certOut, "cert-out", "", "dev: where to write the issued client certificate (default ID-cert.pem)")
	fl.StringVar(&clientKey, "client-key", "", "dev: the CSR's private key, for the CLI profile written for the agency")
	fl.StringVar(&officerKey, "officer-key", "", "dev: the agency's officer-token signing key (JWK), for `liaison dev token`")
	fl.BoolVar(&noProfile, "no-profile", false, "dev: do not write a CLI profile")
	fl.StringVar(&jwksFile, "jwks", "", "officer-token public keys (JWKS file)")
	fl.StringVar(&jwksURL, "jwks-url", "", "officer-token public keys, fetched by the gateway (https)")
	return cmd
}

// writeAgencyProfile writes a profile for a new agency at the same
// gateway as the caller's profile.
func writeAgencyProfile(cf *clientFlags, id, cert, key, officerKey string) (string, error) {
	base, err := cf.profile()
	if err != nil {
		return "", err
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	p := profile{Endpoint: base.Endpoint, Agency: id, Cert: abs(cert), Key: abs(key), CA: base.CA, OfficerKey: abs(officerKey), Audience: base.Audience}
	dir := cf.profileDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	b, _ := yaml.Marshal(p)
	path := filepath.Join(dir, id+".yaml")
	return path, os.WriteFile(path, b, 0o600)
}

func newAgencyListCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the agencies of the registry with their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var l api.RegistryAgencies
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/registry/agencies", nil, http.StatusOK, &l); printed || err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENCY\tSTATUS\tTYPE\tCOUNTRY\tSOURCE\tNAME")
			for _, a := range l.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.Type, a.Country, a.Source, safeText(a.Name))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Printf("registry version %d\n", l.Version)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newAgencyShowCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an agency: state, type, country, trust anchor, officer-token keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var a api.RegistryAgency
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/registry/agencies/"+url.PathEscape(args[0]), nil, http.StatusOK, &a); printed || err != nil {
				return err
			}
			fmt.Printf("%s  %s  (%s)\n", a.ID, strings.ToUpper(a.Status), a.Source)
			fmt.Printf("  name       %s\n  type       %s\n  country    %s\n  competent  %v\n", safeText(a.Name), a.Type, a.Country, a.CompetentAuthority)
			if a.Clearance != "" {
				fmt.Printf("  clearance  %s\n", a.Clearance)
			}
			fmt.Printf("  officer token required: %v\n", a.RequireOfficerToken)
			if a.TrustAnchorSHA256 != "" {
				fmt.Printf("  trust anchor  %s\n    sha256 %s, not after %s\n", safeText(a.TrustAnchorSubject), a.TrustAnchorSHA256, a.TrustAnchorNotAfter)
			}
			if len(a.OfficerKeyIDs) > 0 {
				fmt.Printf("  officer-token keys  %s\n", strings.Join(a.OfficerKeyIDs, ", "))
			}
			if a.JWKSURL != "" {
				fmt.Printf("  officer-token keys from  %s\n", safeText(a.JWKSURL))
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newAgencyStateCmd(change, short string) *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   change + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			method, path := http.MethodPost, "/v1/registry/agencies/"+url.PathEscape(args[0])+"/"+change
			if change == "remove" {
				method, path = http.MethodDelete, "/v1/registry/agencies/"+url.PathEscape(args[0])
			}
			return registryPost(cmd, &f, method, path, nil)
		},
	}
	f.register(cmd)
	return cmd
}

func newDSACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dsa",
		Short: "Data-sharing agreements in the registry: list, show, activate, suspend, terminate, renew",
		Long: `Change the state of the data-sharing agreements of the policy data through
the gateway's API. A change is decided by the policy (registry
administrators only), checked as a policy data reload would be, audited with
the DSA id and the old and new state, and in force on every replica within a
second. Termination is final; a renewal needs a later expiry date.`,
	}
	cmd.AddCommand(newDSAListCmd(), newDSAShowCmd(),
		newDSAStateCmd("activate", "Activate an agreement (not a terminated one)"),
		newDSAStateCmd("suspend", "Suspend an agreement: it grants nothing until activated"),
		newDSAStateCmd("terminate", "Terminate an agreement (final)"),
		newDSARenewCmd())
	return cmd
}

func newDSAListCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the agreements with their state and dates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var l api.RegistryDSAs
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/registry/dsas", nil, http.StatusOK, &l); printed || err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DSA\tSTATUS\tVERSION\tREVIEW\tEXPIRY\tPARTIES")
			for _, d := range l.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Status, safeText(d.Version), d.ReviewDate, d.ExpiryDate, strings.Join(d.Parties, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Printf("registry version %d\n", l.Version)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newDSAShowCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show an agreement's state, version, dates and parties",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var d api.RegistryDSA
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/registry/dsas/"+url.PathEscape(args[0]), nil, http.StatusOK, &d); printed || err != nil {
				return err
			}
			fmt.Printf("%s  %s  version %s\n", d.ID, strings.ToUpper(d.Status), safeText(d.Version))
			if d.Title != "" {
				fmt.Printf("  %s\n", safeText(d.Title))
			}
			fmt.Printf("  review %s, expiry %s\n  parties %s\n", d.ReviewDate, d.ExpiryDate, strings.Join(d.Parties, ", "))
			if d.Changed {
				fmt.Println("  (state set through the registry over the policy data)")
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newDSAStateCmd(change, short string) *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   change + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return registryPost(cmd, &f, http.MethodPost, "/v1/registry/dsas/"+url.PathEscape(args[0])+"/"+change, nil)
		},
	}
	f.register(cmd)
	return cmd
}

func newDSARenewCmd() *cobra.Command {
	var f registryFlags
	var req api.DSARenew
	cmd := &cobra.Command{
		Use:   "renew ID --expiry YYYY-MM-DD [--review YYYY-MM-DD] [--version V]",
		Short: "Renew an agreement: a later expiry date, optionally a new review date and version",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.ExpiryDate == "" {
				return errors.New("--expiry is required")
			}
			body, _ := json.Marshal(req)
			return registryPost(cmd, &f, http.MethodPost, "/v1/registry/dsas/"+url.PathEscape(args[0])+"/renew", body)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&req.ExpiryDate, "expiry", "", "the new expiry date (later than the current one)")
	cmd.Flags().StringVar(&req.ReviewDate, "review", "", "the new review date")
	cmd.Flags().StringVar(&req.Version, "version", "", "the agreement's new version")
	return cmd
}

func registryPost(cmd *cobra.Command, f *registryFlags, method, path string, body []byte) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	var ch api.RegistryChanged
	if printed, err := c.callOrPrint(cmd.Context(), method, path, body, http.StatusOK, &ch); printed || err != nil {
		return err
	}
	printChange(os.Stdout, &ch)
	return nil
}

func printChange(w io.Writer, ch *api.RegistryChanged) {
	if ch.Unchanged {
		fmt.Fprintf(w, "%s %s: already %s (registry version %d, nothing written)\n", ch.Kind, ch.ID, ch.New, ch.Version)
		return
	}
	old := ch.Old
	if old == "" {
		old = "(none)"
	}
	fmt.Fprintf(w, "%s %s: %s: %s → %s (registry version %d, decision %s)\n", ch.Kind, ch.ID, ch.Change, old, ch.New, ch.Version, ch.DecisionID)
}

func newEnumCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enum",
		Short: "The registry's vocabularies: agency types (org_type) and recipient types (handling conditions)",
		Long: `The agency types and recipient types are data the operator extends (the
policy's data/enumerations.json, and additions through the registry), so a
deployment files its own bodies under their own type instead of "other".
Values are only added: one in use must not disappear under a record.`,
	}
	var lf registryFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the agency types and recipient types in force",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := lf.client()
			if err != nil {
				return err
			}
			var e api.RegistryEnumerations
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/registry/enumerations", nil, http.StatusOK, &e); printed || err != nil {
				return err
			}
			for _, g := range []struct {
				name string
				vals []api.RegistryEnumValue
			}{{"agency_types", e.AgencyTypes}, {"recipient_types", e.RecipientTypes}} {
				fmt.Println(g.name)
				for _, v := range g.vals {
					fmt.Printf("  %-20s %s\n", v.Value, safeText(v.Description))
				}
			}
			fmt.Printf("registry version %d\n", e.Version)
			return nil
		},
	}
	lf.register(list)
	var af registryFlags
	var desc string
	add := &cobra.Command{
		Use:   "add agency_types|recipient_types VALUE [--description TEXT]",
		Short: "Add a value (an agency type is a recipient type too)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, _ := json.Marshal(api.EnumAdd{Value: args[1], Description: desc})
			return registryPost(cmd, &af, http.MethodPost, "/v1/registry/enumerations/"+url.PathEscape(args[0]), body)
		},
	}
	af.register(add)
	add.Flags().StringVar(&desc, "description", "", "what the value means")
	cmd.AddCommand(list, add)
	return cmd
}
