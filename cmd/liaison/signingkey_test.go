package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The gateway signing key is rotated as docs/operations.md says, on a real
// dev gateway: records signed by the previous key stay readable while it
// is in signing.verify_keys, `keys resign` re-signs them, and afterwards
// the previous key can go. Without verify_keys the switch makes every old
// record fail its signature check — the failure the procedure prevents.
func TestSigningKeyRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts the gateway five times; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "liaison")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := startDev(t, bin, dir)
	met := devClient(t, dir, "met-police")
	// A registry administrator's change: the registry's newest version is
	// signed by the gateway key too, and must survive the rotation.
	tok, err := runCLI(t, "dev", "token", "--profile-dir", filepath.Join(dir, "profiles"), "--profile", "met-police", "--officer", "ra-1", "--roles", "registry_admin")
	if err != nil {
		t.Fatal(err)
	}
	registry := func(g *devProcess, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, g.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		resp, err := devClient(t, dir, "met-police").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := registry(g, "POST", "/v1/registry/dsas/dsa-selec-ops/suspend"); code != 200 {
		t.Fatalf("dsa suspend: %d", code)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		id, ok := publishOnce(t.Context(), met, g.url, body)
		if !ok {
			t.Fatal("publish failed")
		}
		ids = append(ids, id)
	}
	g.term(t)
	readAll := func(g *devProcess, want int) {
		t.Helper()
		c := devClient(t, dir, "met-police")
		for _, id := range ids {
			if code, _ := readMaybe(t, c, g.url, id); code != want {
				t.Fatalf("record %s reads %d, want %d", id, code, want)
			}
		}
	}

	keys := t.TempDir()
	next, nextPub, prevPub := filepath.Join(keys, "next.jwk.json"), filepath.Join(keys, "next.jwks.json"), filepath.Join(keys, "previous.jwks.json")
	if out, err := runCLI(t, "keys", "signing-key", "new", "--out", next, "--public", nextPub); err != nil {
		t.Fatalf("signing-key new: %v %s", err, out)
	}
	if _, err := runCLI(t, "keys", "signing-key", "new", "--out", next); err == nil {
		t.Fatal("signing-key new overwrote an existing key")
	}
	out, err := runCLI(t, "keys", "signing-key", "public", "--config", filepath.Join(dir, "liaison.yaml"))
	if err != nil || !strings.Contains(out, `"OKP"`) {
		t.Fatalf("signing-key public: %v %s", err, out)
	}
	if err := os.WriteFile(prevPub, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}

	// Step 2: the next key accepted, not yet signing.
	g = startDev(t, bin, dir, "LIAISON_SIGNING_VERIFY_KEYS="+nextPub)
	readAll(g, 200)
	g.term(t)
	// The switch without the previous key: every old record fails its check.
	g = startDev(t, bin, dir, "LIAISON_SIGNING_KEY="+next)
	c := devClient(t, dir, "met-police")
	if code, _ := readMaybe(t, c, g.url, ids[0]); code == 200 {
		t.Fatal("a record signed by the previous key verified without it in signing.verify_keys")
	}
	g.term(t)
	// Step 3: the switch with the previous key accepted.
	g = startDev(t, bin, dir, "LIAISON_SIGNING_KEY="+next, "LIAISON_SIGNING_VERIFY_KEYS="+prevPub)
	readAll(g, 200)
	if _, ok := publishOnce(t.Context(), devClient(t, dir, "met-police"), g.url, body); !ok {
		t.Fatal("publish under the new key failed")
	}
	g.term(t)
	// Step 4: re-sign every record (the gateway stopped: the dev keyring is locked while it runs).
	t.Setenv("LIAISON_SIGNING_KEY", next)
	t.Setenv("LIAISON_SIGNING_VERIFY_KEYS", prevPub)
	out, err = runCLI(t, "keys", "resign", "--config", filepath.Join(dir, "liaison.yaml"), "-o", "json", "--reason", "rotation drill")
	if err != nil || !strings.Contains(out, `"resigned": 6`) || !strings.Contains(out, `"registry_version": 2`) {
		t.Fatalf("resign: %v %s", err, out)
	}
	os.Unsetenv("LIAISON_SIGNING_VERIFY_KEYS")
	// Step 5: the previous key gone; every record still verifies.
	g = startDev(t, bin, dir, "LIAISON_SIGNING_KEY="+next)
	readAll(g, 200)
	if code := registry(g, "POST", "/v1/registry/dsas/dsa-selec-ops/activate"); code != 200 {
		t.Fatalf("a registry change after the rotation: %d (the re-signed version must verify)", code)
	}
	g.term(t)
}
