// Package devnet creates a local federation of dev gateways: N gateways on
// one machine, each with its own identity (gateway id and trust domain),
// its own dev PKI, keyring, filesystem store, audit log and signing key,
// hosting its share of the demo agencies and declaring every other gateway
// as a peer. `liaison dev --federation N` runs the gateways it describes in
// one process; the multi-process federation tests (package devnettest) run
// each as `liaison serve --config <node>/liaison.yaml`.
//
// Layout of the directory:
//
//	devnet.json                  the split (which gateway hosts which agency)
//	profiles/<agency>.yaml       CLI profile of each agency, at its own gateway
//	<gateway>/liaison.yaml       the gateway's complete configuration
//	<gateway>/pki/               its dev PKI: CA, gateway certificate, its agencies' certificates and officer keys
//	<gateway>/signing-keys.jwks.json  the public half of its signing key, which peers pin
//	<gateway>/keys, store, audit, peers   its data, as config.Defaults places it
//
// Ensure is idempotent like pki.EnsureDevFederation: a second call on the
// same directory reuses every key, certificate and record, so a restarted
// federation keeps its data.
package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/google/renameio/v2"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/policy"
)

// DefaultBasePort is the first federation port: node i listens for peer
// gateways on 7443+i, for agencies on 8443+i and for the admin endpoints on
// 9443+i, so the first node's agency and admin ports are those of
// `liaison dev`.
const DefaultBasePort = 7443

// Offsets of the agency API and admin ports from the federation port.
const (
	apiOffset   = 1000
	adminOffset = 2000
)

// Files in the federation directory and in each node's directory.
const (
	layoutFile      = "devnet.json"
	profilesDir     = "profiles"
	configFile      = "liaison.yaml"
	signingKeysFile = "signing-keys.jwks.json"
	auditKeysFile   = "audit-keys.jwks.json"
	pkiDir          = "pki"
)

// ErrLayoutChanged: the directory holds a federation in which an agency is
// hosted by another gateway than the requested layout says. Moving an
// agency would strand its records and leave its old certificate trusted at
// its old gateway, so Ensure refuses instead.
var ErrLayoutChanged = errors.New("devnet: the directory holds a federation with another split of the agencies")

// Options configures Ensure. Zero fields take defaults.
type Options struct {
	// Gateways is the number of gateways, MinGateways..MaxGateways.
	Gateways int
	// BasePort is node i's federation port minus i; its agency API is
	// BasePort+1000+i and its admin listener BasePort+2000+i. Default
	// DefaultBasePort.
	BasePort int
	// Port, when set, chooses every port instead of BasePort (tests:
	// FreeLoopbackPort). Ports are chosen anew on every call, and the
	// configuration files are rewritten with them.
	Port func() (int, error)
	// Host is the listen address of every listener (default 127.0.0.1).
	// Endpoints are always https://localhost:<port>: the dev gateway
	// certificates name localhost, 127.0.0.1 and ::1.
	Host string
	// Agencies is the registry to split (default: the bundled policy's,
	// see BundledAgencies).
	Agencies []policy.Agency
}

// Net is a local federation on disk.
type Net struct {
	Dir   string
	Nodes []*Node
	// Written lists the files (relative to Dir, slash-separated) the call
	// created or replaced, including those of the nodes' PKIs; empty when
	// everything was reused.
	Written []string
}

// Node is one gateway of the federation.
type Node struct {
	ID          string
	TrustDomain string
	// Agencies are the agencies this gateway hosts, sorted.
	Agencies []string
	// Dir is the gateway's data directory.
	Dir string
	PKI *pki.DevFederation
	// Config is the gateway's complete, validated configuration, as
	// written to ConfigFile.
	Config     config.Config
	ConfigFile string
	// SigningKeysFile is the public JWKS of the gateway's signing key
	// (peers verify its messages and receipts with it).
	SigningKeysFile string
	// AuditKeysFile is the public key set of its audit checkpoints, which
	// peers pin to witness them.
	AuditKeysFile string
}

// Node returns the gateway with id, or nil.
func (n *Net) Node(id string) *Node {
	for _, nd := range n.Nodes {
		if nd.ID == id {
			return nd
		}
	}
	return nil
}

// Host returns the gateway hosting agency, or nil.
func (n *Net) Host(agency string) *Node {
	for _, nd := range n.Nodes {
		if slices.Contains(nd.Agencies, agency) {
			return nd
		}
	}
	return nil
}

// Agencies returns every agency of the federation, sorted.
func (n *Net) Agencies() []string {
	var out []string
	for _, nd := range n.Nodes {
		out = append(out, nd.Agencies...)
	}
	slices.Sort(out)
	return out
}

// ProfilesDir is where the agencies' CLI profiles are; it is what
// `liaison --data-dir <Dir>` reads profiles from.
func (n *Net) ProfilesDir() string { return filepath.Join(n.Dir, profilesDir) }

// ProfileFile is the CLI profile of agency.
func (n *Net) ProfileFile(agency string) string {
	return filepath.Join(n.ProfilesDir(), agency+".yaml")
}

// APIURL is the gateway's agency API, as agencies address it.
func (nd *Node) APIURL() string { return "https://" + localhost(nd.Config.Listen) }

// FederationURL is the gateway's federation endpoint, as peers address it.
func (nd *Node) FederationURL() string { return "https://" + localhost(nd.Config.Federation.Listen) }

// AdminURL is the gateway's admin listener (plain HTTP, loopback).
func (nd *Node) AdminURL() string { return "http://" + nd.Config.AdminListen }

// localhost replaces the host of a listen address with "localhost", the
// name the dev gateway certificates carry.
func localhost(listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return net.JoinHostPort("localhost", port)
}

// Profile is what the CLI needs to talk to a gateway as one agency (the
// file `liaison --profile` reads). `liaison dev` writes one per agency.
type Profile struct {
	Endpoint   string `yaml:"endpoint"`
	Agency     string `yaml:"agency"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	CA         string `yaml:"ca"`
	OfficerKey string `yaml:"officer_key,omitempty"`
	Audience   string `yaml:"audience,omitempty"`
}

// Profile returns agency's CLI profile at its gateway.
func (n *Net) Profile(agency string) (Profile, error) {
	nd := n.Host(agency)
	if nd == nil {
		return Profile{}, fmt.Errorf("devnet: no gateway hosts %q", agency)
	}
	return Profile{
		Endpoint: nd.APIURL(), Agency: agency,
		Cert: nd.PKI.AgencyCertFile(agency), Key: nd.PKI.AgencyKeyFile(agency), CA: nd.PKI.CAFile,
		OfficerKey: nd.PKI.OfficerKeyFile(agency), Audience: nd.Config.Officers.Audience,
	}, nil
}

// BundledAgencies returns the agency registry of the bundled policy.
func BundledAgencies(ctx context.Context) ([]policy.Agency, error) {
	eng, err := policy.New(ctx, policy.Options{})
	if err != nil {
		return nil, fmt.Errorf("devnet: bundled policy: %w", err)
	}
	defer eng.Close()
	var out []policy.Agency
	for _, id := range eng.Agencies() {
		a, _ := eng.Agency(id)
		a.ID = id
		out = append(out, a)
	}
	return out, nil
}

// FreeLoopbackPort asks the system for a free TCP port on 127.0.0.1. The
// port is free when the call returns; another process may take it before
// the gateway binds it, which tests accept.
func FreeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// layout is devnet.json.
type layout struct {
	Gateways []Gateway `json:"gateways"`
}

// Ensure makes dir hold a local federation of opts.Gateways gateways and
// returns it. Existing keys, certificates, stores and audit logs are
// reused; missing ones are created; configuration files and profiles are
// rewritten only when their content changes (new ports, a new agency).
func Ensure(ctx context.Context, dir string, opts Options) (*Net, error) {
	if opts.BasePort == 0 {
		opts.BasePort = DefaultBasePort
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == nil && (opts.BasePort < 1 || opts.BasePort+adminOffset+MaxGateways > 65535) {
		return nil, fmt.Errorf("devnet: base port %d: node ports would leave 1..65535", opts.BasePort)
	}
	agencies := opts.Agencies
	if agencies == nil {
		var err error
		if agencies, err = BundledAgencies(ctx); err != nil {
			return nil, err
		}
	}
	gws, err := Split(agencies, opts.Gateways)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("devnet: directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("devnet: directory: %w", err)
	}
	n := &Net{Dir: abs}
	if err := n.checkLayout(gws); err != nil {
		return nil, err
	}
	if pick := opts.Port; pick != nil {
		// A port closed by FreeLoopbackPort may be handed out again by the
		// next call: never give two listeners the same one.
		used := map[int]bool{}
		opts.Port = func() (int, error) {
			for range 100 {
				p, err := pick()
				if err != nil || !used[p] {
					used[p] = true
					return p, err
				}
			}
			return 0, errors.New("the port chooser keeps returning ports already taken")
		}
	}

	// First every node's identity and keys, then the configurations, which
	// reference the other nodes' files.
	for i, g := range gws {
		nd, err := n.ensureNode(g)
		if err != nil {
			return nil, err
		}
		if err := n.assignPorts(nd, i, opts); err != nil {
			return nil, err
		}
		n.Nodes = append(n.Nodes, nd)
	}
	for _, nd := range n.Nodes {
		nd.Config.Federation.Peers = n.peersOf(nd)
		if err := nd.Config.Validate(); err != nil {
			return nil, fmt.Errorf("devnet: configuration of %s: %w", nd.ID, err)
		}
		if err := n.writeConfig(nd); err != nil {
			return nil, err
		}
	}
	if err := n.writeProfiles(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(layout{Gateways: gws}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := n.write(layoutFile, append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return n, nil
}

// checkLayout refuses a layout that moves an agency already hosted by one
// gateway in dir to another. Adding gateways or agencies is allowed.
func (n *Net) checkLayout(gws []Gateway) error {
	data, err := os.ReadFile(filepath.Join(n.Dir, layoutFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	var old layout
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("devnet: %s: %w", layoutFile, err)
	}
	now := map[string]string{}
	for _, g := range gws {
		for _, a := range g.Agencies {
			now[a] = g.ID
		}
	}
	for _, g := range old.Gateways {
		for _, a := range g.Agencies {
			if id, ok := now[a]; ok && id != g.ID {
				return fmt.Errorf("%w: %s is hosted by %s there, by %s in a federation of %d gateways "+
					"(use another data directory, or remove %s)", ErrLayoutChanged, a, g.ID, id, len(gws), n.Dir)
			}
		}
	}
	return nil
}

// ensureNode makes the gateway's PKI (only its own agencies) and signing
// key, and writes the public half of the key where peers find it.
func (n *Net) ensureNode(g Gateway) (*Node, error) {
	dir := filepath.Join(n.Dir, g.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, pkiDir), pki.DevOptions{
		TrustDomain: g.TrustDomain, GatewayID: g.ID, Agencies: g.Agencies,
	})
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", g.ID, err)
	}
	for _, w := range fed.Written {
		n.Written = append(n.Written, g.ID+"/"+pkiDir+"/"+w)
	}
	cfg := config.Defaults(dir)
	cfg.GatewayID, cfg.TrustDomain = g.ID, g.TrustDomain
	cfg.TLS.Cert, cfg.TLS.Key = fed.GatewayCertFile, fed.GatewayKeyFile
	// The agency listener trusts this gateway's own CA only: an agency
	// certificate issued by a peer's CA is not a client here.
	cfg.TLS.ClientCAs, cfg.TLS.CRLs = []string{fed.CAFile}, []string{fed.CRLFile}
	cfg.Officers.JWKSDir = fed.JWKSDir
	cfg.Officers.Audience = g.ID
	// The console's dev identity provider, as on a single dev gateway.
	cfg.Console.DevIdP, cfg.Console.DevIdPDir = true, fed.Dir
	cfg.Federation.Agencies = slices.Clone(g.Agencies)

	// The key is made here, before the gateway first starts, because the
	// peers' configurations name its public half. A dev gateway would make
	// the same file on first start (jose.LoadOrCreateSigner).
	existed := fileExists(cfg.Signing.Key)
	signer, err := jose.LoadOrCreateSigner(cfg.Signing.Key)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: signing key: %w", g.ID, err)
	}
	if !existed {
		rel, _ := filepath.Rel(n.Dir, cfg.Signing.Key)
		n.Written = append(n.Written, filepath.ToSlash(rel))
	}
	pub, err := signer.PublicJWKS()
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", g.ID, err)
	}
	// The audit key likewise: peers pin its public half to witness this
	// gateway's audit checkpoints (cross-witnessing).
	auditSigner, err := jose.LoadOrCreateSigner(cfg.Audit.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: audit key: %w", g.ID, err)
	}
	auditPub, err := auditSigner.PublicJWKS()
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", g.ID, err)
	}
	if err := n.write(g.ID+"/"+auditKeysFile, append(auditPub, '\n'), 0o644); err != nil {
		return nil, err
	}
	nd := &Node{
		ID: g.ID, TrustDomain: g.TrustDomain, Agencies: slices.Clone(g.Agencies), Dir: dir, PKI: fed,
		Config: cfg, ConfigFile: filepath.Join(dir, configFile), SigningKeysFile: filepath.Join(dir, signingKeysFile),
		AuditKeysFile: filepath.Join(dir, auditKeysFile),
	}
	if err := n.write(g.ID+"/"+signingKeysFile, append(pub, '\n'), 0o644); err != nil {
		return nil, err
	}
	return nd, nil
}

func (n *Net) assignPorts(nd *Node, i int, opts Options) error {
	ports := [3]int{opts.BasePort + i, opts.BasePort + apiOffset + i, opts.BasePort + adminOffset + i}
	if opts.Port != nil {
		for j := range ports {
			p, err := opts.Port()
			if err != nil {
				return fmt.Errorf("devnet: choose a port: %w", err)
			}
			ports[j] = p
		}
	}
	addr := func(p int) string { return net.JoinHostPort(opts.Host, strconv.Itoa(p)) }
	nd.Config.Federation.Listen, nd.Config.Listen, nd.Config.AdminListen = addr(ports[0]), addr(ports[1]), addr(ports[2])
	return nil
}

// peersOf declares every other node as a peer of nd, each with its own
// trust bundle (its CA only, never merged with nd's agency trust bundle)
// and its signing keys.
func (n *Net) peersOf(nd *Node) []config.PeerConfig {
	var peers []config.PeerConfig
	for _, o := range n.Nodes {
		if o == nd {
			continue
		}
		peers = append(peers, config.PeerConfig{
			ID: o.ID, TrustDomain: o.TrustDomain, Endpoint: o.FederationURL(),
			TrustBundle: []string{o.PKI.CAFile}, SigningKeys: o.SigningKeysFile, AuditKeys: o.AuditKeysFile,
			Agencies: slices.Clone(o.Agencies),
		})
	}
	return peers
}

func (n *Net) writeConfig(nd *Node) error {
	b, err := yaml.Marshal(nd.Config)
	if err != nil {
		return fmt.Errorf("devnet: %s: %w", nd.ID, err)
	}
	head := "# Written by `liaison dev --federation`: gateway " + nd.ID + " of a local federation.\n" +
		"# `liaison serve --config " + nd.ConfigFile + "` runs it on its own.\n"
	return n.write(nd.ID+"/"+configFile, append([]byte(head), b...), 0o600)
}

func (n *Net) writeProfiles() error {
	if err := os.MkdirAll(n.ProfilesDir(), 0o700); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	for _, a := range n.Agencies() {
		p, err := n.Profile(a)
		if err != nil {
			return err
		}
		b, err := yaml.Marshal(p)
		if err != nil {
			return err
		}
		if err := n.write(profilesDir+"/"+a+".yaml", b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// write writes rel (slash-separated, under Dir) atomically unless it
// already holds data, and records it in Written.
func (n *Net) write(rel string, data []byte, perm os.FileMode) error {
	path := filepath.Join(n.Dir, filepath.FromSlash(rel))
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := writeFileAtomic(path, data, perm); err != nil {
		return fmt.Errorf("devnet: %w", err)
	}
	n.Written = append(n.Written, rel)
	return nil
}

// writeFileAtomic writes data to path so that a reader never sees half a file: a
// temporary file in the same directory (never os.TempDir: some of these
// files hold keys or pin trust), written, fsynced and renamed over path by
// renameio, with exactly perm whatever the file it replaces had.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(filepath.Dir(path)), renameio.WithPermissions(perm))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
