package backup

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// role is one configuration setting that names a file or directory the
// gateway cannot run (or prove what it did) without.
type role struct {
	name string
	dir  bool
	// paths returns the setting's values (one, or one per list element);
	// empty strings are unset.
	paths func(c *config.Config) []*string
	// baseRel, for the dev layout's extra directories (certificates and
	// CLI profiles beside liaison.yaml), is the path under the base dir.
	baseRel string
	// derived, for a path the gateway derives from another setting (the
	// custody log beside the audit log), computes it.
	derived func(c *config.Config) string
}

func one(f func(c *config.Config) *string) func(c *config.Config) []*string {
	return func(c *config.Config) []*string { return []*string{f(c)} }
}

func list(f func(c *config.Config) []string) func(c *config.Config) []*string {
	return func(c *config.Config) []*string {
		s := f(c)
		out := make([]*string, len(s))
		for i := range s {
			out[i] = &s[i]
		}
		return out
	}
}

// roles is every file setting a backup copies. The index database and the
// record store's directory are not here: the store is copied object by
// object (whatever its backend) and the index is rebuilt from it.
var roles = []role{
	{name: "config"},
	{name: "tls.cert", paths: one(func(c *config.Config) *string { return &c.TLS.Cert })},
	{name: "tls.key", paths: one(func(c *config.Config) *string { return &c.TLS.Key })},
	{name: "tls.client_cas", paths: list(func(c *config.Config) []string { return c.TLS.ClientCAs })},
	{name: "tls.crls", paths: list(func(c *config.Config) []string { return c.TLS.CRLs })},
	{name: "officers.jwks_dir", dir: true, paths: one(func(c *config.Config) *string { return &c.Officers.JWKSDir })},
	{name: "policy.dir", dir: true, paths: one(func(c *config.Config) *string { return &c.Policy.Dir })},
	{name: "policy.bundle", paths: one(func(c *config.Config) *string { return &c.Policy.Bundle })},
	{name: "policy.trusted_keys", paths: one(func(c *config.Config) *string { return &c.Policy.TrustedKeys })},
	{name: "keys.local.keyring", paths: one(func(c *config.Config) *string { return &c.Keys.Local.Keyring })},
	{name: "signing.key", paths: one(func(c *config.Config) *string { return &c.Signing.Key })},
	{name: "signing.verify_keys", paths: list(func(c *config.Config) []string { return c.Signing.VerifyKeys })},
	{name: "audit.signing_key", paths: one(func(c *config.Config) *string { return &c.Audit.SigningKey })},
	{name: "audit.hmac_key", paths: one(func(c *config.Config) *string { return &c.Audit.HMACKey })},
	{name: "federation.peers_dir", dir: true, paths: one(func(c *config.Config) *string { return &c.Federation.PeersDir })},
	{name: "federation.manifest_file", paths: one(func(c *config.Config) *string { return &c.Federation.ManifestFile })},
	{name: "federation.trust_bundle", paths: list(func(c *config.Config) []string { return c.Federation.TrustBundle })},
	// The audit log last: see the package comment.
	{name: "audit.path", dir: true, paths: one(func(c *config.Config) *string { return &c.Audit.Path })},
	// The key custody log (rotate, rewrap, shred, destroy, resign): a log
	// of the same format beside the audit log (gateway.CustodyLogPath).
	{name: "audit.custody", dir: true, derived: func(c *config.Config) string {
		return filepath.Clean(audit.LogDir(c.Audit.Path)) + "-custody"
	}},
	// `liaison dev`'s layout: its federation CA (which issued the agency
	// certificates) and the CLI profiles, beside liaison.yaml.
	{name: "dev.pki", dir: true, baseRel: "pki"},
	{name: "dev.profiles", dir: true, baseRel: "profiles"},
}

// roleByName finds a role, including list elements ("tls.client_cas[1]").
func roleByName(name string) (role, bool) {
	base, _, err := splitIndex(name)
	if err != nil {
		return role{}, false
	}
	for _, r := range roles {
		if r.name == base {
			return r, true
		}
	}
	return role{}, false
}

// splitIndex parses "name[i]"; i is -1 without brackets.
func splitIndex(name string) (string, int, error) {
	open := strings.IndexByte(name, '[')
	if open < 0 {
		return name, -1, nil
	}
	if !strings.HasSuffix(name, "]") {
		return "", 0, fmt.Errorf("bad role %q", name)
	}
	i, err := strconv.Atoi(name[open+1 : len(name)-1])
	if err != nil || i < 0 || i > 1000 {
		return "", 0, fmt.Errorf("bad role %q", name)
	}
	return name[:open], i, nil
}

// target is one path of a role in a configuration.
type target struct {
	role string // with its index for list elements
	path string
	dir  bool
}

// targets lists the paths cfg names for every role, in copy order. base is
// the directory of the configuration file (for the dev layout's extras);
// configPath is the file itself.
func targets(cfg *config.Config, base, configPath string) []target {
	var out []target
	for _, r := range roles {
		switch {
		case r.name == "config":
			out = append(out, target{role: r.name, path: configPath})
		case r.baseRel != "":
			out = append(out, target{role: r.name, path: filepath.Join(base, r.baseRel), dir: true})
		case r.derived != nil:
			out = append(out, target{role: r.name, path: r.derived(cfg), dir: true})
		default:
			ps := r.paths(cfg)
			for i, p := range ps {
				name := r.name
				if r.name == "tls.client_cas" || r.name == "tls.crls" || r.name == "federation.trust_bundle" || r.name == "signing.verify_keys" {
					name = fmt.Sprintf("%s[%d]", r.name, i)
				}
				out = append(out, target{role: name, path: *p, dir: r.dir})
			}
		}
	}
	return out
}

// rebase moves every path setting of cfg that lies under from to the same
// place under to. A path outside from cannot be placed safely: restoring
// would write where the old node's layout said, which may be another
// gateway's file, so it is an error naming the setting.
func rebase(cfg *config.Config, from, to string) error {
	from = filepath.Clean(from)
	var bad []string
	move := func(name string, p *string) {
		if *p == "" {
			return
		}
		rel, err := filepath.Rel(from, filepath.Clean(*p))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			bad = append(bad, name+" ("+*p+")")
			return
		}
		*p = filepath.Join(to, rel)
	}
	for _, r := range roles {
		if r.paths == nil {
			continue
		}
		for _, p := range r.paths(cfg) {
			move(r.name, p)
		}
	}
	// Not copied, but they must not point at the old node either.
	move("store.fs.dir", &cfg.Store.FS.Dir)
	move("index.sqlite.path", &cfg.Index.SQLite.Path)
	move("policy.shadow_dir", &cfg.Policy.ShadowDir)
	move("policy.shadow_report", &cfg.Policy.ShadowReport)
	if len(bad) > 0 {
		return fmt.Errorf("backup: these settings name paths outside %s, so they cannot be moved under the new data directory: %s; restore with --config naming where each goes",
			from, strings.Join(bad, ", "))
	}
	return nil
}
