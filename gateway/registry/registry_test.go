package registry_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/registry"
	"github.com/liaison-project/liaison/policy"
)

// raceStore runs hook once, just before the first Put of a registry
// version: there another replica writes the same version number first.
type raceStore struct {
	objstore.Store
	hook  func()
	fired atomic.Bool
}

func (s *raceStore) Put(ctx context.Context, key string, data []byte, o objstore.PutOptions) error {
	if strings.HasPrefix(key, registry.Prefix) && s.fired.CompareAndSwap(false, true) {
		s.hook()
	}
	return s.Store.Put(ctx, key, data, o)
}

func newReplica(t *testing.T, store objstore.Store, signer registry.Signer) (*registry.Registry, *policy.Engine) {
	t.Helper()
	eng, err := policy.New(t.Context(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return registry.New(registry.Options{Store: store, Signer: signer, Policy: eng}), eng
}

func dsaStatus(t *testing.T, eng *policy.Engine, id string) string {
	t.Helper()
	d, ok := eng.DSA(id)
	if !ok {
		t.Fatalf("no %s", id)
	}
	s, _ := d["status"].(string)
	return s
}

// TestCommitLosesRaceAndRetries: replica A computes version 1, but replica
// B writes version 1 first. A's conditional write fails, A reloads B's
// version and writes its change on top as version 2: both changes are in
// force, none lost; A's audit hook ran once per attempt.
func TestCommitLosesRaceAndRetries(t *testing.T) {
	dir := t.TempDir()
	fs, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.LoadOrCreateSigner(filepath.Join(dir, "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	b, engB := newReplica(t, fs, signer)
	rs := &raceStore{Store: fs}
	a, engA := newReplica(t, rs, signer)
	rs.hook = func() {
		if _, err := b.ChangeDSA(t.Context(), registry.Who{Agency: "met-police"}, "dsa-selec-ops", registry.ChangeSuspend, nil, nil); err != nil {
			t.Errorf("B's change: %v", err)
		}
	}
	var attempts []uint64
	ch, err := a.ChangeDSA(t.Context(), registry.Who{Agency: "met-police"}, "dsa-uk-soc", registry.ChangeSuspend, nil,
		func(c registry.Change) error { attempts = append(attempts, c.Version); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ch.Version != 2 || len(attempts) != 2 || attempts[0] != 1 || attempts[1] != 2 {
		t.Fatalf("A's change: %+v, attempts at versions %v", ch, attempts)
	}
	if got := dsaStatus(t, engA, "dsa-selec-ops"); got != "suspended" {
		t.Fatalf("A lost B's change: dsa-selec-ops is %s", got)
	}
	if err := b.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, eng := range []*policy.Engine{engA, engB} {
		if dsaStatus(t, eng, "dsa-uk-soc") != "suspended" || dsaStatus(t, eng, "dsa-selec-ops") != "suspended" {
			t.Fatal("both changes must be in force on both replicas")
		}
	}
	if a.Current().Seq != 2 || b.Current().Seq != 2 {
		t.Fatalf("versions: A %d, B %d", a.Current().Seq, b.Current().Seq)
	}
}

// TestInvalidChangeNeverStored: a change the policy checks refuse (an
// agency entry the schema rejects) is refused at write time; no version is
// written and nothing changes.
func TestInvalidChangeNeverStored(t *testing.T) {
	dir := t.TempDir()
	fs, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.LoadOrCreateSigner(filepath.Join(dir, "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, eng := newReplica(t, fs, signer)
	rev := eng.Revision()
	// org_type passes the request checks but not the agency schema.
	_, err = r.AddAgency(t.Context(), registry.Who{Agency: "met-police"}, api.AgencyAdd{ID: "sl-police", Name: "Sierra Leone Police", Type: "Police Force", Country: "SLE"}, nil)
	if !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	keys, err := fs.List(t.Context(), registry.Prefix, "", 10)
	if err != nil || len(keys) != 0 {
		t.Fatalf("versions written: %v %v", keys, err)
	}
	if _, ok := eng.Agency("sl-police"); ok || eng.Revision() != rev {
		t.Fatal("the refused change reached the policy")
	}
	// A terminated agreement cannot be reactivated, and the refusal writes nothing.
	if _, err := r.ChangeDSA(t.Context(), registry.Who{}, "dsa-legacy-2023", registry.ChangeTerminate, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ChangeDSA(t.Context(), registry.Who{}, "dsa-legacy-2023", registry.ChangeActivate, nil, nil); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("reactivating a terminated DSA: %v", err)
	}
	if r.Current().Seq != 1 {
		t.Fatalf("version %d after one change", r.Current().Seq)
	}
}

// TestUnavailableStoreChangesNothing: a store that cannot be written is a
// 503 (ErrUnavailable) and nothing is applied.
func TestUnavailableStoreChangesNothing(t *testing.T) {
	dir := t.TempDir()
	fs, err := fsstore.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.LoadOrCreateSigner(filepath.Join(dir, "signing.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, eng := newReplica(t, downStore{fs}, signer)
	_, err = r.ChangeDSA(t.Context(), registry.Who{}, "dsa-uk-soc", registry.ChangeSuspend, nil, nil)
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if dsaStatus(t, eng, "dsa-uk-soc") != "active" {
		t.Fatal("a change the store did not take is in force")
	}
	if err := r.Ready(t.Context()); err == nil {
		t.Fatal("a registry never read from the store must not be ready")
	}
}

type downStore struct{ objstore.Store }

func (downStore) List(context.Context, string, string, int) ([]string, error) {
	return nil, objstore.ErrUnavailable
}
func (downStore) Put(context.Context, string, []byte, objstore.PutOptions) error {
	return objstore.ErrUnavailable
}
