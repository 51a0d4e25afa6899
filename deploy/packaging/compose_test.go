package packaging

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/liaison-project/liaison/gateway/config"
)

// loadCompose loads deploy/compose/compose.yaml with compose-go (the
// library docker compose itself loads files with): schema validation,
// interpolation, the x-gateway anchor merged, depends_on checked against
// the services, paths resolved.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "deploy", "compose")
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml")}},
		Environment: env,
	}, func(o *loader.Options) { o.ResolvePaths = true })
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	p := loadCompose(t, map[string]string{"LIAISON_IMAGE": "liaison:v9.9.9"})
	if p.Name != "liaison" {
		t.Errorf("project %q", p.Name)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"liaison-1", "liaison-2", "minio", "postgres", "vault", "vault-init"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	for _, name := range []string{"minio", "vault", "postgres"} {
		if hc := p.Services[name].HealthCheck; hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s has no healthcheck", name)
		}
	}

	var cfgs []config.Config
	for _, name := range []string{"liaison-1", "liaison-2"} {
		s := p.Services[name]
		if s.Image != "liaison:v9.9.9" {
			t.Errorf("%s: image %s (LIAISON_IMAGE not used)", name, s.Image)
		}
		// Non-root, read-only, no capabilities, as in the image and the chart.
		if s.User != "65532:65532" || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: user %q read_only %v cap_drop %v security_opt %v", name, s.User, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		for dep, cond := range map[string]string{"minio": types.ServiceConditionHealthy, "postgres": types.ServiceConditionHealthy, "vault-init": types.ServiceConditionCompletedSuccessfully} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
				t.Errorf("%s: depends_on %s %+v, want %s", name, dep, d, cond)
			}
		}

		// liaison.yaml: the file mounted, loaded by the gateway's loader
		// with the service's environment, as `serve` would at start.
		var cfgPath, devDir string
		mounts := map[string]types.ServiceVolumeConfig{}
		for _, v := range s.Volumes {
			mounts[v.Target] = v
			switch v.Target {
			case "/etc/liaison/liaison.yaml":
				cfgPath = v.Source
			case "/etc/liaison/dev":
				devDir = v.Source
			}
		}
		if cfgPath == "" || !mounts["/etc/liaison/liaison.yaml"].ReadOnly || devDir == "" || !mounts["/etc/liaison/dev"].ReadOnly {
			t.Fatalf("%s: volumes %+v", name, s.Volumes)
		}
		if d := mounts["/var/lib/liaison"]; d.Type != types.VolumeTypeVolume || d.Source != name+"-data" {
			t.Errorf("%s: data volume %+v (each replica its own, for its audit log)", name, d)
		}
		if !slices.Equal(s.Command, []string{"serve", "--config", "/etc/liaison/liaison.yaml", "--data-dir", "/var/lib/liaison"}) {
			t.Errorf("%s: command %v", name, s.Command)
		}
		var env []string
		for k, v := range s.Environment {
			if v == nil {
				t.Errorf("%s: %s has no value", name, k)
				continue
			}
			env = append(env, k+"="+*v)
		}
		cfg, err := config.Load(cfgPath, "/var/lib/liaison", env)
		if err != nil {
			t.Fatalf("%s: %s does not load: %v", name, cfgPath, err)
		}
		cfgs = append(cfgs, cfg)

		// The backends it names are the compose services.
		for what, addr := range map[string]string{"vault": cfg.Keys.Vault.Address, "minio": "http://" + cfg.Store.MinIO.Endpoint, "postgres": cfg.Index.Postgres.DSN} {
			u, err := url.Parse(addr)
			if err != nil || u.Hostname() != what {
				t.Errorf("%s: %s at %q, not the %s service", name, what, addr, what)
			}
		}
		if cfg.Keys.Provider != "vault" || cfg.Store.Backend != "minio" || cfg.Index.Backend != "postgres" {
			t.Errorf("%s: keys %s store %s index %s", name, cfg.Keys.Provider, cfg.Store.Backend, cfg.Index.Backend)
		}
		// Every file liaison.yaml reads lies under a mount (the root is read-only).
		for key, f := range map[string]string{"tls.cert": cfg.TLS.Cert, "tls.key": cfg.TLS.Key, "signing.key": cfg.Signing.Key, "tls.client_cas": cfg.TLS.ClientCAs[0], "audit": cfg.Audit.Path} {
			if !underMount(f, mounts) {
				t.Errorf("%s: %s = %s is on no volume", name, key, f)
			}
		}

		// The healthcheck runs the binary (no shell in the image) against the admin port liaison.yaml listens on.
		_, adminPort, _ := net.SplitHostPort(cfg.AdminListen)
		hc := s.HealthCheck
		if hc == nil || !slices.Equal(hc.Test, []string{"CMD", "/liaison", "health", "--url", "http://127.0.0.1:" + adminPort + "/readyz"}) {
			t.Errorf("%s: healthcheck %+v", name, hc)
		}
	}
	// Two replicas, one gateway: the same identity, bucket, prefix, Vault mount and index.
	a, b := cfgs[0], cfgs[1]
	if a.GatewayID != b.GatewayID || a.Store.MinIO.Bucket != b.Store.MinIO.Bucket || a.Store.MinIO.Prefix != b.Store.MinIO.Prefix ||
		a.Keys.Vault.Address != b.Keys.Vault.Address || a.Keys.Vault.Mount != b.Keys.Vault.Mount || a.Index.Postgres.DSN != b.Index.Postgres.DSN {
		t.Errorf("the replicas differ:\n%+v\n%+v", a, b)
	}
	// …each shipping its audit log under its own node id.
	if a.Audit.NodeID == "" || a.Audit.NodeID == b.Audit.NodeID {
		t.Errorf("audit node ids %q %q: replicas sharing a gateway id need distinct ones", a.Audit.NodeID, b.Audit.NodeID)
	}
	// …published on different host ports.
	if p1, p2 := p.Services["liaison-1"].Ports, p.Services["liaison-2"].Ports; len(p1) == 0 || len(p2) == 0 || p1[0].Published == p2[0].Published {
		t.Errorf("host ports %v %v", p1, p2)
	}
	// No secret in liaison.yaml: they come from the environment.
	b2, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose", "liaison.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"liaison-dev-secret", "liaison-dev-root", "password", "secret_key"} {
		if strings.Contains(string(b2), s) {
			t.Errorf("liaison.yaml holds %q", s)
		}
	}
}

// TestComposeRejects: the loader this test relies on does reject a broken
// file (a dependency on a service that does not exist).
func TestComposeRejects(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte("services:\n  a:\n    image: x\n    depends_on: [nope]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{WorkingDir: dir, ConfigFiles: []types.ConfigFile{{Filename: f}}},
		func(o *loader.Options) { o.SetProjectName("x", true) })
	if err == nil {
		t.Error("a depends_on on a missing service loaded")
	}
}

func underMount(path string, mounts map[string]types.ServiceVolumeConfig) bool {
	for target := range mounts {
		if path == target || strings.HasPrefix(path, strings.TrimSuffix(target, "/")+"/") {
			return true
		}
	}
	return false
}
