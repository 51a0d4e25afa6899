package policy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/policy"
)

type officerKey struct {
	priv jwk.Key
	pub  []byte // JWKS
}

func officerKeys(t *testing.T, n int) []officerKey {
	t.Helper()
	var out []officerKey
	for range n {
		priv, pub, err := jose.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, officerKey{priv, pub})
	}
	return out
}

// trustFile writes a JWKS holding the public keys of keys.
func trustFile(t *testing.T, keys ...officerKey) string {
	t.Helper()
	var all struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, k := range keys {
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(k.pub, &one); err != nil {
			t.Fatal(err)
		}
		all.Keys = append(all.Keys, one.Keys...)
	}
	bs, _ := json.Marshal(all)
	p := filepath.Join(t.TempDir(), "trusted.jwks.json")
	if err := os.WriteFile(p, bs, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type member struct {
	name string
	data []byte
	typ  byte
}

func readTar(t *testing.T, p string) []member {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []member
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, member{h.Name, data, h.Typeflag})
	}
}

func writeTar(t *testing.T, p string, ms []member) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range ms {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: typ}
		if typ == tar.TypeSymlink {
			h.Size, h.Linkname = 0, "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			_, _ = tw.Write(m.data)
		}
	}
	_ = tw.Close()
	_ = gz.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tamper rewrites a copy of bundle with f applied to its members.
func tamper(t *testing.T, bundle string, f func([]member) []member) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tampered.tar.gz")
	writeTar(t, out, f(readTar(t, bundle)))
	return out
}

func signed(t *testing.T, dir string, keys ...officerKey) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "policy.tar.gz")
	if _, err := policy.Sign(context.Background(), dir, keys[0].priv, out); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[1:] {
		if _, err := policy.CoSign(out, k.priv, out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestSignedBundles(t *testing.T) {
	ctx := context.Background()
	keys := officerKeys(t, 3) // 0 and 1 are trusted, 2 is not
	trusted := trustFile(t, keys[0], keys[1])
	dir := copyBundle(t)
	one := signed(t, dir, keys[0])
	two := signed(t, dir, keys[0], keys[1])
	load := func(bundle string, required int) (*policy.Engine, error) {
		return newEngine(t, ctx, policy.Options{Bundle: bundle, TrustedKeys: trusted, RequiredSignatures: required})
	}

	t.Run("one trusted signature loads", func(t *testing.T) {
		e, err := load(one, 0)
		if err != nil {
			t.Fatal(err)
		}
		if e.Revision() != engine(t).Revision() || !slices.Equal(e.Signers(), []string{keys[0].priv.KeyID()}) {
			t.Fatalf("revision %s signers %v", e.Revision(), e.Signers())
		}
		if d, err := e.DecideJSON(ctx, js(t, input(t, baseRead, nil))); err != nil || !d.Allow || d.Revision != e.Revision() {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
	})
	t.Run("two signatures when two are required", func(t *testing.T) {
		e, err := load(two, 2)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{keys[0].priv.KeyID(), keys[1].priv.KeyID()}
		slices.Sort(want)
		if !slices.Equal(e.Signers(), want) {
			t.Fatalf("signers %v, want %v", e.Signers(), want)
		}
	})

	rejects := []struct {
		name     string
		bundle   func(t *testing.T) string
		required int
		msg      string
	}{
		{"too few signatures", func(*testing.T) string { return one }, 2, "signed by 1 trusted key(s), 2 required"},
		{"wrong key", func(t *testing.T) string { return signed(t, dir, keys[2]) }, 1, "is not trusted"},
		{"a trusted and an untrusted key are not two", func(t *testing.T) string { return signed(t, dir, keys[0], keys[2]) }, 2, "signed by 1 trusted key(s), 2 required"},
		{"one key twice is not two", func(t *testing.T) string {
			return tamper(t, one, func(ms []member) []member {
				for i, m := range ms {
					if m.name == ".signatures.json" {
						var doc struct{ Signatures []string }
						_ = json.Unmarshal(m.data, &doc)
						doc.Signatures = append(doc.Signatures, doc.Signatures[0])
						ms[i].data, _ = json.Marshal(map[string]any{"signatures": doc.Signatures})
					}
				}
				return ms
			})
		}, 2, "signed by 1 trusted key(s), 2 required"},
		{"tampered data file", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				for i, m := range ms {
					if m.name == "data/dsas.json" {
						ms[i].data = bytes.Replace(m.data, []byte(`"status": "suspended"`), []byte(`"status": "active"`), 1)
						ms[i].data = bytes.Replace(ms[i].data, []byte(`"expiry_date": "2025-03-31"`), []byte(`"expiry_date": "2035-03-31"`), 1)
					}
				}
				return ms
			})
		}, 2, "data/dsas.json does not match its digest in the manifest"},
		{"file added after signing", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				return append(ms, member{name: "liaison/backdoor.rego", data: []byte("package liaison.authz\n\ngranted := true\n")})
			})
		}, 2, "liaison/backdoor.rego is in the bundle but not in the manifest"},
		{"file removed after signing", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				return slices.DeleteFunc(ms, func(m member) bool { return m.name == "liaison/schemes/tlp.rego" })
			})
		}, 2, "liaison/schemes/tlp.rego is in the manifest but not in the bundle"},
		{"manifest altered", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				for i, m := range ms {
					if m.name == ".manifest.json" {
						ms[i].data = bytes.Replace(m.data, []byte(`"format"`), []byte(` "format"`), 1)
					}
				}
				return ms
			})
		}, 1, "is over another manifest"},
		{"symlink member", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				return append(ms, member{name: "data/link.json", typ: tar.TypeSymlink})
			})
		}, 1, "is not a regular file"},
		{"path traversal", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				return append(ms, member{name: "../../etc/cron.d/x", data: []byte("x")})
			})
		}, 1, "is not a clean relative path"},
		{"unsigned", func(t *testing.T) string {
			return tamper(t, two, func(ms []member) []member {
				return slices.DeleteFunc(ms, func(m member) bool { return m.name == ".signatures.json" })
			})
		}, 1, "not signed"},
		{"not a bundle", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.tar.gz")
			_ = os.WriteFile(p, []byte("hello"), 0o644)
			return p
		}, 1, "not a gzip'd tar"},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			e, err := load(tc.bundle(t), tc.required)
			if !errors.Is(err, policy.ErrBundle) || e != nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("New = %v; want ErrBundle with %q", err, tc.msg)
			}
		})
	}

	t.Run("co-signing twice with one key is refused", func(t *testing.T) {
		if _, err := policy.CoSign(one, keys[0].priv, filepath.Join(t.TempDir(), "x.tar.gz")); !errors.Is(err, policy.ErrBundle) {
			t.Fatalf("CoSign = %v", err)
		}
	})
	t.Run("co-signing a tampered bundle is refused", func(t *testing.T) {
		bad := tamper(t, one, func(ms []member) []member {
			return append(ms, member{name: "liaison/extra.rego", data: []byte("package liaison.extra\n")})
		})
		if _, err := policy.CoSign(bad, keys[1].priv, filepath.Join(t.TempDir(), "x.tar.gz")); !errors.Is(err, policy.ErrBundle) {
			t.Fatalf("CoSign = %v", err)
		}
	})
	t.Run("a policy that does not load is not signed", func(t *testing.T) {
		broken := copyBundle(t)
		edit(t, broken, "data/dsas.json", `"status": "active",`, `"status": "paused",`)
		if _, err := policy.Sign(ctx, broken, keys[0].priv, filepath.Join(t.TempDir(), "x.tar.gz")); !errors.Is(err, policy.ErrLoad) {
			t.Fatalf("Sign = %v", err)
		}
	})
	t.Run("trusted keys are required", func(t *testing.T) {
		if _, err := newEngine(t, ctx, policy.Options{Bundle: one}); !errors.Is(err, policy.ErrLoad) {
			t.Fatalf("New = %v", err)
		}
		if _, err := newEngine(t, ctx, policy.Options{Bundle: one, Dir: dir, TrustedKeys: trusted}); !errors.Is(err, policy.ErrLoad) {
			t.Fatalf("bundle and dir: %v", err)
		}
	})
	t.Run("a private key in the trust list is refused", func(t *testing.T) {
		raw, _ := json.Marshal(map[string]any{"keys": []any{keys[0].priv}})
		p := filepath.Join(t.TempDir(), "bad.jwks.json")
		_ = os.WriteFile(p, raw, 0o644)
		if _, err := newEngine(t, ctx, policy.Options{Bundle: one, TrustedKeys: p}); !errors.Is(err, policy.ErrBundle) {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("verify reports signers and manifest", func(t *testing.T) {
		info, err := policy.VerifyBundle(two, trusted, 2)
		if err != nil || len(info.Signers) != 2 || info.Manifest.Revision != engine(t).Revision() || len(info.Manifest.Files) < 15 {
			t.Fatalf("VerifyBundle = %+v, %v", info, err)
		}
	})
}

func TestWatchedBundle(t *testing.T) {
	ctx := context.Background()
	keys := officerKeys(t, 2)
	trusted := trustFile(t, keys[0])
	dir := copyBundle(t)
	bundle := filepath.Join(t.TempDir(), "policy.tar.gz")
	if _, err := policy.Sign(ctx, dir, keys[0].priv, bundle); err != nil {
		t.Fatal(err)
	}
	events := make(chan policy.ReloadEvent, 8)
	e, err := newEngine(t, ctx, policy.Options{Bundle: bundle, TrustedKeys: trusted, ReloadInterval: 10 * time.Millisecond,
		OnReload: func(ev policy.ReloadEvent) { events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rev := e.Revision()

	// A bundle signed by an untrusted key replaces the file: rejected.
	addAgency(t, dir, "lancs-police")
	if _, err := policy.Sign(ctx, dir, keys[1].priv, bundle); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events)
	if ev.Applied || !errors.Is(ev.Err, policy.ErrBundle) || e.Revision() != rev {
		t.Fatalf("untrusted bundle: event %+v, revision %s", ev, e.Revision())
	}
	// The same change signed by the trusted key is applied.
	if _, err := policy.Sign(ctx, dir, keys[0].priv, bundle); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	if !ev.Applied || ev.NewRevision == rev || e.Revision() != ev.NewRevision {
		t.Fatalf("trusted bundle: event %+v", ev)
	}
	if _, ok := e.Agency("lancs-police"); !ok {
		t.Fatal("the signed change did not reach the registry")
	}
}
