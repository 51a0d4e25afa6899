package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/localkeys"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/policy"
	"go.uber.org/goleak"
)

// TestMain lets tests run the real command as a child process: the test
// binary re-executes itself with LIAISON_TEST_MAIN_ARGS set and calls main,
// so exit codes, stderr and panics are exactly what an operator sees.
func TestMain(m *testing.M) {
	if args := os.Getenv("LIAISON_TEST_MAIN_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Args = append([]string{"liaison"}, a...)
		main()
		os.Exit(0)
	}
	// In-process commands (dev, serve, records, audit, keys) stop what they
	// start: no goroutine outlives the tests. Every request the CLI sent
	// matched docs/openapi.yaml (openapi_test.go).
	code := m.Run()
	if contractFailures() && code == 0 {
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runMain runs `liaison args...` in a child process and returns its exit
// code and stderr.
func runMain(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	b, _ := json.Marshal(args)
	// A command that should have refused to start would serve forever:
	// bound it, and report that as what it is.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "LIAISON_TEST_MAIN_ARGS="+string(b), "LIAISON_LOG_LEVEL=error", "NO_COLOR=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("liaison %s did not exit (it should have refused to start): %s", strings.Join(args, " "), stderr.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// devConfig writes a complete gateway configuration (dev federation, local
// keyring, fs store) into dir, as `liaison dev` does, and returns it with
// the path of its liaison.yaml.
func devConfig(t *testing.T, dir string) (config.Config, string) {
	t.Helper()
	eng, err := policy.New(t.Context(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agencies := eng.Agencies()
	eng.Close()
	sort.Strings(agencies)
	fed, err := pki.EnsureDevFederation(filepath.Join(dir, "pki"), pki.DevOptions{Agencies: agencies})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults(dir)
	cfg.Listen, cfg.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLS.Cert, cfg.TLS.Key = fed.GatewayCertFile, fed.GatewayKeyFile
	cfg.TLS.ClientCAs, cfg.TLS.CRLs = []string{fed.CAFile}, []string{fed.CRLFile}
	cfg.Officers.JWKSDir = fed.JWKSDir
	cfg.Officers.Audience = cfg.GatewayID
	cfg.Log = config.LogConfig{Format: "console", Level: "error"}
	if err := writeDevFiles(dir, cfg, fed, agencies); err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(dir, "liaison.yaml")
}

// assertCleanFailure: a non-zero exit that is not a Go panic (exit 2), and
// exactly one line on stderr that names what failed.
func assertCleanFailure(t *testing.T, code int, stderr string, want ...string) {
	t.Helper()
	t.Logf("exit %d: %s", code, strings.TrimSpace(stderr))
	if code == 0 || code == 2 {
		t.Errorf("exit code %d, want a clean failure (1)", code)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine") {
		t.Fatalf("the command panicked:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "liaison: ") {
		t.Fatalf("want one error line on stderr, got %d:\n%s", len(lines), stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

// TestStartupFailuresAreOneClearLine: serve and the key commands, when
// the store, the keyring or the signing key cannot be opened, exit 1 with
// one line naming what failed and what to do — they used to panic with a
// nil-pointer dereference (exit 2) in the backends' cleanup (issue 9 item 8).
func TestStartupFailuresAreOneClearLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command in child processes")
	}
	keyCmds := [][]string{
		{"keys", "info", "--agency", "met-police"},
		{"keys", "rotate", "--agency", "met-police"},
		{"keys", "rewrap"},
		{"keys", "shred", "--agency", "met-police", "--min-version", "2", "--yes"},
		{"keys", "destroy", "--agency", "met-police", "--yes"},
	}
	t.Run("store_unreachable", func(t *testing.T) {
		_, conf := devConfig(t, t.TempDir())
		env := []string{"LIAISON_STORE_BACKEND=minio", "LIAISON_STORE_MINIO_ENDPOINT=127.0.0.1:1", "LIAISON_STORE_MINIO_BUCKET=liaison",
			"LIAISON_STORE_MINIO_CREDENTIALS_ACCESS_KEY=k", "LIAISON_STORE_MINIO_CREDENTIALS_SECRET_KEY=secret-key",
			"LIAISON_STORE_MINIO_MAX_ATTEMPTS=1", "LIAISON_STORE_MINIO_REQUEST_TIMEOUT=2s"}
		code, stderr := runMain(t, env, "serve", "--config", conf)
		assertCleanFailure(t, code, stderr, "store: ", "object store")
		for _, args := range keyCmds[:1] {
			code, stderr := runMain(t, env, append(args, "--config", conf)...)
			assertCleanFailure(t, code, stderr, "store: ")
		}
	})
	t.Run("keyring_locked", func(t *testing.T) {
		cfg, conf := devConfig(t, t.TempDir())
		kr, err := localkeys.Open(cfg.Keys.Local.Keyring, localkeys.Options{AutoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer kr.Close() // held as a running gateway holds it
		code, stderr := runMain(t, nil, "serve", "--config", conf)
		assertCleanFailure(t, code, stderr, "keys: ", "in use by another process", "stop it")
		for _, args := range keyCmds {
			code, stderr := runMain(t, nil, append(args, "--config", conf)...)
			assertCleanFailure(t, code, stderr, "keys: ", "in use by another process")
		}
	})
	t.Run("signing_key_corrupt", func(t *testing.T) {
		cfg, conf := devConfig(t, t.TempDir())
		if err := os.MkdirAll(filepath.Dir(cfg.Signing.Key), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg.Signing.Key, []byte("{not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stderr := runMain(t, nil, "serve", "--config", conf)
		assertCleanFailure(t, code, stderr, "signing: ", "restore it from backup")
		for _, args := range keyCmds {
			code, stderr := runMain(t, nil, append(args, "--config", conf)...)
			assertCleanFailure(t, code, stderr, "signing: ")
		}
	})
}

// storeRecord puts a record-shaped object into the fs store of cfg, as a
// gateway that published before would have left it.
func storeRecord(t *testing.T, cfg config.Config) {
	t.Helper()
	p := filepath.Join(cfg.Store.FS.Dir, "records", "rec_aaaaaaaaaaaaaaaaaaaaaaaa")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("LSR2"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMissingSigningKeyWithRecordsStopsStart: a gateway whose signing key
// is gone while its store holds records refuses to start (it used to
// create a new key silently, after which every stored record failed with
// 500), and so do the key commands (rewrap would re-sign under a key no
// gateway has). On an empty store the first start still creates the key
// (issue 9 item 10).
func TestMissingSigningKeyWithRecordsStopsStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command in child processes")
	}
	cfg, conf := devConfig(t, t.TempDir())
	storeRecord(t, cfg)
	code, stderr := runMain(t, nil, "serve", "--config", conf)
	assertCleanFailure(t, code, stderr, "signing: ", cfg.Signing.Key, "is missing", "restore the key file from backup")
	if _, err := os.Stat(cfg.Signing.Key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused start created the signing key: %v", err)
	}
	code, stderr = runMain(t, nil, "keys", "rewrap", "--config", conf)
	assertCleanFailure(t, code, stderr, "signing: ", "is missing")
	if _, err := os.Stat(cfg.Signing.Key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys rewrap created the signing key: %v", err)
	}

	// A first start (empty store) creates the key; the key commands then
	// open fine (the check is about records, not about a missing file).
	cfg2, conf2 := devConfig(t, t.TempDir())
	code, stderr = runMain(t, nil, "keys", "rewrap", "--config", conf2, "-o", "json")
	if code != 0 {
		t.Fatalf("rewrap on an empty store: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(cfg2.Signing.Key); err != nil {
		t.Fatalf("first start did not create the signing key: %v", err)
	}
}

// TestSecondGatewayOnOneAuditDirRefused: while one process has the audit
// directory open, a second gateway exits with one line saying the
// directory is in use, instead of writing over the first one's
// acknowledged entries (issue 9 item 9).
func TestSecondGatewayOnOneAuditDirRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command in child processes")
	}
	cfg, conf := devConfig(t, t.TempDir())
	l, err := audit.Open(cfg.Audit.Path, audit.Options{Gateway: "gw-first"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before := l.Size()
	code, stderr := runMain(t, nil, "serve", "--config", conf)
	assertCleanFailure(t, code, stderr, "audit: ", "in use by another process", "stop the other gateway")
	if l.Size() != before {
		t.Fatal("the refused gateway wrote to the log")
	}
}
