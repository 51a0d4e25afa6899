package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if cfg.Store.IndexFlushInterval != 100*time.Millisecond {
		t.Fatalf("store.index_flush_interval = %v", cfg.Store.IndexFlushInterval)
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
		{name: "bad duration from env", env: []string{"LIAISON_STORE_INDEX_FLUSH_INTERVAL=soon"}, want: "LIAISON_STORE_INDEX_FLUSH_INTERVAL"},
		{name: "index flush interval from env", env: []string{"LIAISON_STORE_INDEX_FLUSH_INTERVAL=0s"}},
		{name: "negative index flush interval", yaml: "store:\n  index_flush_interval: -1s\n", want: "store.index_flush_interval"},
		{name: "index flush interval too long", yaml: "store:\n  index_flush_interval: 1m\n", want: "store.index_flush_interval"},
		{name: "key pattern without agency", yaml: "keys:\n  name_pattern: shared-key\n", want: "keys.name_pattern"},
		{name: "per-DSA key pattern", yaml: "keys:\n  name_pattern: agency-{agency}-{dsa}\n"},
		{name: "key pattern with an unknown placeholder", yaml: "keys:\n  name_pattern: agency-{agency}-{case}\n", want: "keys.name_pattern"},
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
			if tc.name == "index flush interval from env" && cfg.Store.IndexFlushInterval != 0 {
				t.Fatalf("LIAISON_STORE_INDEX_FLUSH_INTERVAL=0s gave %v", cfg.Store.IndexFlushInterval)
			}
		})
	}
}
