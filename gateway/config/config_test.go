package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/config"
)

// exampleEnv is what `make devstack-up` prints for the example file.
var exampleEnv = []string{
	"LIAISON_KEYS_VAULT_ADDRESS=http://127.0.0.1:8200",
	"LIAISON_STORE_MINIO_ENDPOINT=127.0.0.1:9000",
	"LIAISON_STORE_MINIO_CREDENTIALS_ACCESS_KEY=liaison-dev",
	"LIAISON_STORE_MINIO_CREDENTIALS_SECRET_KEY=not-a-real-secret",
}

// TestExampleConfigLoads keeps deploy/liaison.example.yaml true: it must
// load and validate with the environment the README tells people to export.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := config.Load(filepath.Join("..", "..", "deploy", "liaison.example.yaml"), t.TempDir(), exampleEnv)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Keys.Provider != "vault" || cfg.Store.Backend != "minio" || cfg.Store.MinIO.Endpoint != "127.0.0.1:9000" {
		t.Fatalf("example config read wrongly: keys %q store %q endpoint %q", cfg.Keys.Provider, cfg.Store.Backend, cfg.Store.MinIO.Endpoint)
	}
	if cfg.Index.Backend != "postgres" || cfg.Index.Postgres.MaxConns != 16 {
		t.Fatalf("index section read wrongly: %+v", cfg.Index)
	}
}

func TestConfigErrors(t *testing.T) {
	write := func(t *testing.T, yaml string) string {
		p := filepath.Join(t.TempDir(), "liaison.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       string // in the error; "" means it must load
	}{
		{name: "defaults", yaml: ""},
		{name: "unknown key", yaml: "store:\n  backnd: fs\n", want: "backnd"},
		{name: "unknown variable", env: []string{"LIAISON_STORE_BACKNED=fs"}, want: "LIAISON_STORE_BACKNED"},
		{name: "bad duration from env", env: []string{"LIAISON_INDEX_KEYRING_REFRESH=soon"}, want: "LIAISON_INDEX_KEYRING_REFRESH"},
		{name: "index dsn from env", env: []string{"LIAISON_INDEX_BACKEND=postgres", "LIAISON_INDEX_POSTGRES_DSN=postgres://liaison@127.0.0.1:5432/liaison"}},
		{name: "postgres without dsn", yaml: "index:\n  backend: postgres\n", want: "index.postgres.dsn"},
		{name: "unknown index backend", yaml: "index:\n  backend: mysql\n", want: "index.backend"},
		{name: "keyring refresh too short", yaml: "index:\n  keyring_refresh: 1ms\n", want: "index.keyring_refresh"},
		{name: "search rate zero", yaml: "search:\n  per_minute: 0\n", want: "search.per_minute"},
		{name: "index flush interval is gone", yaml: "store:\n  index_flush_interval: 1s\n", want: "index_flush_interval"},
		{name: "key pattern without agency", yaml: "keys:\n  name_pattern: shared-key\n", want: "keys.name_pattern"},
		{name: "per-DSA key pattern", yaml: "keys:\n  name_pattern: agency-{agency}-{dsa}\n"},
		{name: "key pattern with an unknown placeholder", yaml: "keys:\n  name_pattern: agency-{agency}-{case}\n", want: "keys.name_pattern"},
		{name: "decision cache off", yaml: "policy:\n  decision_cache_entries: -1\n"},
		{name: "decision cache size from env", env: []string{"LIAISON_POLICY_DECISION_CACHE_ENTRIES=1000"}},
		{name: "decision cache below -1", yaml: "policy:\n  decision_cache_entries: -2\n", want: "policy.decision_cache_entries"},
		{name: "key pattern with upper case", yaml: "keys:\n  name_pattern: Agency-{agency}\n", want: "keys.name_pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const tls = "tls:\n  cert: gw.pem\n  key: gw.key\n  client_cas: [ca.pem]\n"
			cfg, err := config.Load(write(t, tls+tc.yaml), t.TempDir(), tc.env)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("must load: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "config: ")):
				t.Fatalf("error = %v, want a config: error naming %q", err, tc.want)
			}
			if tc.name == "index dsn from env" && (cfg.Index.Backend != "postgres" || cfg.Index.Postgres.DSN == "") {
				t.Fatalf("LIAISON_INDEX_* overrides not applied: %+v", cfg.Index)
			}
		})
	}
}
