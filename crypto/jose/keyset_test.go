package jose

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/pki"
)

// TestReloadFailsSafePerAgency: one agency's broken file keeps that agency's
// previous keys, does not stop another agency being added, and is reported
// once; a deleted file withdraws the agency's keys.
func TestReloadFailsSafePerAgency(t *testing.T) {
	fed, err := pki.EnsureDevFederation(t.TempDir(), pki.DevOptions{Agencies: []string{"met-police", "hmrc"}})
	if err != nil {
		t.Fatal(err)
	}
	var events []KeySetEvent
	v, err := NewOfficerVerifier(fed.JWKSDir, testAudience, WithKeySetObserver(func(e KeySetEvent) { events = append(events, e) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	token := func(agency string) string {
		t.Helper()
		key, err := LoadPrivateJWK(fed.OfficerKeyFile(agency))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := IssueOfficerToken(key, agency, testAudience, Officer{ID: agency + "-1"}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	metTok := token("met-police")

	// Break met-police's file and add nca in the same reload.
	if err := os.WriteFile(fed.JWKSFile("met-police"), []byte(`{"keys":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.EnsureDevFederation(fed.Dir, pki.DevOptions{Agencies: []string{"met-police", "hmrc", "nca"}}); err != nil {
		t.Fatal(err)
	}
	// EnsureDevFederation may rewrite met-police's set; break it again.
	if err := os.WriteFile(fed.JWKSFile("met-police"), []byte(`{"keys":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	events = nil
	if err := v.Reload(); err == nil {
		t.Fatal("Reload reported no error for a malformed key set")
	}
	if _, err := v.Verify(ctx, metTok, "met-police", "", time.Now()); err != nil {
		t.Fatalf("a malformed file cleared met-police's previous keys: %v", err)
	}
	if _, err := v.Verify(ctx, token("nca"), "nca", "", time.Now()); err != nil {
		t.Fatalf("nca not added beside a broken file: %v", err)
	}
	if !slices.ContainsFunc(events, func(e KeySetEvent) bool {
		return e.Agency == "met-police" && e.Change == KeySetFailed && e.KeptPrevious && e.Err != nil
	}) || !slices.ContainsFunc(events, func(e KeySetEvent) bool { return e.Agency == "nca" && e.Change == KeySetAdded }) {
		t.Fatalf("events = %+v", events)
	}

	// The same broken bytes again: still an error, but not reported again.
	events = nil
	if err := v.Reload(); err == nil {
		t.Fatal("unchanged broken file no longer reported by Reload's error")
	}
	if len(events) != 0 {
		t.Fatalf("unchanged files reported again: %+v", events)
	}

	// An unreadable directory changes nothing.
	dir := v.dir
	v.dir = dir + "-missing"
	if err := v.Reload(); err == nil {
		t.Fatal("missing directory not reported")
	}
	v.dir = dir
	if got := v.Agencies(); !slices.Equal(got, []string{"hmrc", "met-police", "nca"}) {
		t.Fatalf("after a failed directory read: %v", got)
	}

	// Removing the file withdraws the agency.
	if err := os.Remove(fed.JWKSFile("hmrc")); err != nil {
		t.Fatal(err)
	}
	events = nil
	_ = v.Reload() // met-police is still broken
	if _, err := v.Verify(ctx, token("hmrc"), "hmrc", "", time.Now()); !errors.Is(err, ErrUnknownAgency) {
		t.Fatalf("removed agency: err = %v, want ErrUnknownAgency", err)
	}
	if !slices.ContainsFunc(events, func(e KeySetEvent) bool { return e.Agency == "hmrc" && e.Change == KeySetRemoved }) {
		t.Fatalf("removal not reported: %+v", events)
	}
}

// FuzzParsePublicSet: key-set files come from each agency and are re-read
// at run time; whatever the bytes, parsing either refuses them or yields a
// non-empty set of public keys with distinct kids, and never panics.
func FuzzParsePublicSet(f *testing.F) {
	fed, err := pki.EnsureDevFederation(f.TempDir(), pki.DevOptions{Agencies: []string{"met-police"}})
	if err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(fed.JWKSFile("met-police"))
	if err != nil {
		f.Fatal(err)
	}
	priv, _ := os.ReadFile(fed.OfficerKeyFile("met-police"))
	for _, s := range [][]byte{good, []byte(`{"keys":[]}`), []byte(`{"keys":[` + string(priv) + `]}`), []byte(`{"keys":[{"kty":`), []byte(`[]`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parsePublicSet(data)
		if err != nil {
			return
		}
		if set.Len() == 0 {
			t.Fatal("empty set accepted")
		}
		kids := map[string]bool{}
		for i := range set.Len() {
			k, _ := set.Key(i)
			if isPriv, err := jwk.IsPrivateKey(k); err != nil || isPriv {
				t.Fatalf("key %d private or not asymmetric", i)
			}
			if k.KeyID() == "" || kids[k.KeyID()] {
				t.Fatalf("key %d: missing or duplicate kid", i)
			}
			kids[k.KeyID()] = true
		}
	})
}
