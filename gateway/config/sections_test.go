package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/gateway/config"
)

// TestSectionsNameTheirPaths: each section and each connector validates
// itself, and a problem found there is reported under its full YAML path,
// all problems at once.
func TestSectionsNameTheirPaths(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	const tls = "tls:\n  cert: gw.pem\n  key: gw.key\n  client_cas: [ca.pem]\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // every line of the error; nil: it must load
	}{
		{name: "vault without its token loads (the token may come from VAULT_TOKEN when serving)",
			yaml: "keys:\n  provider: vault\n  vault:\n    address: https://vault:8200\n"},
		{name: "minio without credentials loads (checked when the store is opened)",
			yaml: "store:\n  backend: minio\n  minio:\n    endpoint: minio:9000\n    bucket: b\n"},
		{name: "vault section", yaml: "keys:\n  provider: vault\n  vault:\n    address: vault:8200\n    max_attempts: 11\n    auth:\n      method: ldap\n",
			want: []string{
				"config: keys.vault.address: must be an http(s) URL",
				"config: keys.vault.max_attempts: must be between 1 and 10",
				`config: keys.vault.auth.method: "ldap" is not one of token, approle, kubernetes`,
			}},
		{name: "minio section", yaml: "store:\n  backend: minio\n  minio:\n    endpoint: https://minio:9000\n    prefix: Upper/\n",
			want: []string{
				"config: store.minio.endpoint: must be host[:port] without scheme or path; use secure for https",
				"config: store.minio.bucket: required",
				`config: store.minio.prefix: "Upper/" must be like a valid object key (lower-case [a-z0-9._-] segments)`,
			}},
		{name: "audit store checked when set", yaml: "audit:\n  store:\n    endpoint: minio:9000\n",
			want: []string{"config: audit.store.bucket: required"}},
		{name: "local and fs sections", yaml: "keys:\n  local:\n    keyring: \"\"\nstore:\n  fs:\n    dir: \"\"\n",
			want: []string{"config: keys.local.keyring: required", "config: store.fs.dir: required"}},
		{name: "sections and node together", yaml: "gateway_id: Bad\nlog:\n  level: loud\nkeys:\n  cache:\n    max_records: 4294967297\n",
			want: []string{
				`config: gateway_id: "Bad" must be 1-63 of a-z, 0-9 and '-'`,
				"config: keys.cache.max_records: must not exceed 2^32 (AES-GCM random-nonce bound per key)",
				`config: log.level: "loud" must be debug, info, warn or error`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "liaison.yaml")
			if err := os.WriteFile(p, []byte(tls+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(p, t.TempDir(), nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("must load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded; want %q", tc.want)
			}
			if got := strings.Join(tc.want, "\n"); err.Error() != got {
				t.Fatalf("error:\n%v\nwant:\n%s", err, got)
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "config: "+fe.Path+": ") {
				t.Fatalf("error %v carries no FieldError naming its first path", err)
			}
		})
	}
}

// TestSectionValidateAlone: a section checks itself without the rest of
// the configuration, naming its own YAML path.
func TestSectionValidateAlone(t *testing.T) {
	d := config.Defaults(t.TempDir())
	for name, err := range map[string]error{
		"keys": d.Keys.Validate(), "store": d.Store.Validate(), "audit": d.Audit.Validate(), "signing": d.Signing.Validate(),
		"limits": d.Limits.Validate(), "consents": d.Consents.Validate(), "log": d.Log.Validate(), "officers": d.Officers.Validate(),
		"policy": d.Policy.Validate(),
	} {
		if err != nil {
			t.Errorf("default %s section: %v", name, err)
		}
	}
	if err := d.TLS.Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: tls") {
		t.Errorf("default tls section (no certificate) = %v, want a tls error", err)
	}
	bad := config.LimitsConfig{MaxBodyBytes: 4096, RequestTimeout: 1, MaxListLimit: 0}
	if err := bad.Validate(); err == nil || err.Error() != "config: limits.max_list_limit: must be 1..1000" {
		t.Errorf("limits: %v", err)
	}
	if err := (config.PolicyConfig{Dir: "p", Bundle: "b", TrustedKeys: "k"}).Validate(); err == nil ||
		err.Error() != "config: policy: dir and bundle exclude each other" {
		t.Errorf("policy: %v", err)
	}
}

// TestKeyCacheDefaultsAreEnvelopes: the key-cache defaults are written once,
// in crypto/envelope; the configuration section reads them from there and
// gives them back as the same limits.
func TestKeyCacheDefaultsAreEnvelopes(t *testing.T) {
	c := config.Defaults(t.TempDir()).Keys.Cache
	if got, want := c.Limits(), envelope.DefaultCacheLimits(); got != want {
		t.Fatalf("default keys.cache = %+v, want envelope's defaults %+v", got, want)
	}
	c.Disabled = true
	if got := c.Limits(); got != (envelope.CacheLimits{}) {
		t.Fatalf("disabled keys.cache gives limits %+v, want none", got)
	}
}
