package localkeys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/keys/keystest"
	"github.com/liaison-project/liaison/connectors/localkeys"
)

func open(t *testing.T, path string, opts localkeys.Options) *localkeys.Keyring {
	t.Helper()
	k, err := localkeys.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func TestConformance(t *testing.T) {
	keystest.Run(t, func(t *testing.T) keys.Provider {
		return open(t, filepath.Join(t.TempDir(), "keyring.json"), localkeys.Options{AutoCreate: true})
	})
}

// kekMaterial reads every KEK version's key, base64-encoded as in the file.
func kekMaterial(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Keys map[string]struct {
			Versions map[string]string `json:"versions"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for n, e := range f.Keys {
		out[n] = e.Versions
	}
	return out
}

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "keyring.json")
	k, err := localkeys.Open(path, localkeys.Options{AutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	dk1, err := k.GenerateDataKey(ctx, "agency-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Rotate(ctx, "agency-a"); err != nil {
		t.Fatal(err)
	}
	dk2, err := k.GenerateDataKey(ctx, "agency-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.GenerateDataKey(ctx, "agency-b"); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.UnwrapDataKey(ctx, "agency-a", dk1.Wrapped); !errors.Is(err, localkeys.ErrClosed) {
		t.Fatalf("Unwrap after Close: err = %v, want ErrClosed", err)
	}

	k2 := open(t, path, localkeys.Options{})
	tests := []struct {
		name string
		dk   keys.DataKey
	}{{"version_1", dk1}, {"version_2", dk2}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k2.UnwrapDataKey(ctx, "agency-a", tc.dk.Wrapped)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.dk.Plaintext) {
				t.Fatal("different key after reopen")
			}
		})
	}
	ki, err := k2.Info(ctx, "agency-a")
	if err != nil || ki.LatestVersion != 2 || ki.MinDecryptionVersion != 1 {
		t.Fatalf("Info after reopen = %+v, %v", ki, err)
	}
	names, err := k2.Names(ctx)
	if err != nil || strings.Join(names, ",") != "agency-a,agency-b" {
		t.Fatalf("Names = %q, %v", names, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %v, want 0600", st.Mode().Perm())
	}
	st, err = os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("created directory mode %v, want 0700", st.Mode().Perm())
	}
}

func TestAutoCreate(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name       string
		autoCreate bool
		wantErr    error
	}{
		{"off", false, keys.ErrNotFound},
		{"on", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := open(t, filepath.Join(t.TempDir(), "k.json"), localkeys.Options{AutoCreate: tc.autoCreate})
			_, err := k.GenerateDataKey(ctx, "dsa-1")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("GenerateDataKey: err = %v, want %v", err, tc.wantErr)
			}
			// Explicit creation works either way and is idempotent.
			for range 2 {
				if err := k.Create(ctx, "dsa-2"); err != nil {
					t.Fatalf("Create: %v", err)
				}
			}
			if _, err := k.GenerateDataKey(ctx, "dsa-2"); err != nil {
				t.Fatalf("GenerateDataKey after Create: %v", err)
			}
			if ki, _ := k.Info(ctx, "dsa-2"); ki.LatestVersion != 1 {
				t.Fatalf("Create twice: LatestVersion = %d, want 1", ki.LatestVersion)
			}
		})
	}
}

func TestExclusiveLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.json")
	k := open(t, path, localkeys.Options{})
	if _, err := localkeys.Open(path, localkeys.Options{}); !errors.Is(err, localkeys.ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path, localkeys.Options{})
}

func TestRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr error
	}{
		{"not_json", "{not json", 0o600, localkeys.ErrCorrupt},
		{"unknown_field", `{"format":1,"keys":{},"extra":1}`, 0o600, localkeys.ErrCorrupt},
		{"wrong_format", `{"format":2,"keys":{}}`, 0o600, localkeys.ErrCorrupt},
		{"bad_name", `{"format":1,"keys":{"Bad":{"latest_version":1,"min_decryption_version":1,"versions":{"1":"` + b64(32) + `"}}}}`, 0o600, localkeys.ErrCorrupt},
		{"short_key", `{"format":1,"keys":{"a":{"latest_version":1,"min_decryption_version":1,"versions":{"1":"` + b64(16) + `"}}}}`, 0o600, localkeys.ErrCorrupt},
		{"missing_version", `{"format":1,"keys":{"a":{"latest_version":2,"min_decryption_version":1,"versions":{"1":"` + b64(32) + `"}}}}`, 0o600, localkeys.ErrCorrupt},
		{"min_above_latest", `{"format":1,"keys":{"a":{"latest_version":1,"min_decryption_version":2,"versions":{}}}}`, 0o600, localkeys.ErrCorrupt},
		{"group_readable", `{"format":1,"keys":{}}`, 0o640, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // despite umask
				t.Fatal(err)
			}
			k, err := localkeys.Open(path, localkeys.Options{})
			if err == nil {
				k.Close()
				t.Fatal("Open succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), b64(32)[:8]) {
				t.Fatalf("error quotes key material: %v", err)
			}
			// A refused file is left untouched.
			raw, _ := os.ReadFile(path)
			if string(raw) != tc.content {
				t.Fatal("refused keyring file was modified")
			}
		})
	}
}

// b64 is a recognisable fake key of n bytes, base64 as encoding/json writes it.
func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA7}, n)) }

func TestShreddingRemovesMaterialFromFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.json")
	k := open(t, path, localkeys.Options{AutoCreate: true})
	if _, err := k.GenerateDataKey(ctx, "agency-a"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := k.Rotate(ctx, "agency-a"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.GenerateDataKey(ctx, "agency-b"); err != nil {
		t.Fatal(err)
	}
	before := kekMaterial(t, path)
	if len(before["agency-a"]) != 3 {
		t.Fatalf("file holds %d versions, want 3", len(before["agency-a"]))
	}

	if err := k.SetMinDecryptionVersion(ctx, "agency-a", 3); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, v := range []string{"1", "2"} {
		if bytes.Contains(raw, []byte(before["agency-a"][v])) {
			t.Fatalf("version %s material still in the keyring file", v)
		}
	}
	if !bytes.Contains(raw, []byte(before["agency-a"]["3"])) {
		t.Fatal("version 3 material missing from the keyring file")
	}
	if err := k.SetMinDecryptionVersion(ctx, "agency-a", 2); !errors.Is(err, localkeys.ErrInvalidVersion) {
		t.Fatalf("lowering the minimum: err = %v, want ErrInvalidVersion", err)
	}

	if err := k.Delete(ctx, "agency-a"); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(path)
	if bytes.Contains(raw, []byte(before["agency-a"]["3"])) || bytes.Contains(raw, []byte("agency-a")) {
		t.Fatal("deleted KEK still in the keyring file")
	}
	if !bytes.Contains(raw, []byte(before["agency-b"]["1"])) {
		t.Fatal("unrelated KEK lost by Delete")
	}
	if err := k.Delete(ctx, "agency-a"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("second Delete: err = %v, want ErrNotFound", err)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := open(t, filepath.Join(dir, "k.json"), localkeys.Options{AutoCreate: true})
	for _, n := range []string{"a", "b", "c"} {
		if _, err := k.GenerateDataKey(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := k.Rotate(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "k.json,k.json.lock" {
		t.Fatalf("directory holds %q, want only the keyring and its lock", names)
	}
}

func TestWrappedFormat(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.json")
	k := open(t, path, localkeys.Options{AutoCreate: true})
	dk1, err := k.GenerateDataKey(ctx, "agency-a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(dk1.Wrapped, []byte("lk1:1:")) {
		t.Fatalf("wrapped key %q lacks the lk1:1: prefix", dk1.Wrapped[:6])
	}
	if err := k.Rotate(ctx, "agency-a"); err != nil {
		t.Fatal(err)
	}
	tampered := []struct{ name, wrapped string }{
		// The version is bound in the AAD and selects the key: relabelling fails.
		{"relabelled_version", "lk1:2:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
		{"leading_zero_version", "lk1:01:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
		{"version_zero", "lk1:0:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
		{"negative_version", "lk1:-1:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
		{"huge_version", "lk1:99999999999999999999:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
		{"padded_base64", string(dk1.Wrapped) + "="},
		{"std_base64", strings.NewReplacer("-", "+", "_", "/").Replace(string(dk1.Wrapped)) + "+"},
		{"other_scheme", "vault:v1:" + strings.TrimPrefix(string(dk1.Wrapped), "lk1:1:")},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.UnwrapDataKey(ctx, "agency-a", []byte(tc.wrapped)); !errors.Is(err, keys.ErrInvalidCiphertext) {
				t.Fatalf("err = %v, want ErrInvalidCiphertext", err)
			}
		})
	}
}

func TestErrorsNeverCarryKeyMaterial(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "k.json")
	k := open(t, path, localkeys.Options{AutoCreate: true})
	dk, err := k.GenerateDataKey(ctx, "agency-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.GenerateDataKey(ctx, "agency-b"); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		base64.StdEncoding.EncodeToString(dk.Plaintext),
		base64.RawURLEncoding.EncodeToString(dk.Plaintext),
		string(dk.Plaintext),
	}
	for _, m := range kekMaterial(t, path) {
		for _, s := range m {
			secrets = append(secrets, s)
		}
	}
	var errs []error
	_, err = k.UnwrapDataKey(ctx, "agency-b", dk.Wrapped)
	errs = append(errs, err)
	_, err = k.UnwrapDataKey(ctx, "agency-a", append(bytes.Clone(dk.Wrapped), 'x'))
	errs = append(errs, err)
	_, err = k.Rewrap(ctx, "agency-b", dk.Wrapped)
	errs = append(errs, err)
	errs = append(errs, k.SetMinDecryptionVersion(ctx, "agency-a", 5))
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d: operation unexpectedly succeeded", i)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error %d quotes key material: %v", i, err)
			}
		}
	}
}
