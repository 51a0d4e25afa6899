package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/registry"
)

// registryAdmin is a client of met-police (marked registry_admin in the
// bundled registry) whose officer holds the registry_admin role.
func registryAdmin(e *gatewaytest.Env) *gatewaytest.Client {
	return e.Client("met-police").WithToken(e.OfficerToken("met-police", jose.Officer{ID: "ra-1", Roles: []string{"registry_admin"}}, time.Hour))
}

func registryChange(t *testing.T, c *gatewaytest.Client, method, path string, body any, want int) *gatewaytest.Response {
	t.Helper()
	r := c.MustDo(method, path, body)
	if r.Status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	return r
}

// registryEntries are the audit entries of registry changes about id.
func registryEntries(e *gatewaytest.Env, id string) []audit.Event {
	var out []audit.Event
	for _, ev := range e.Audit() {
		if ev.Registry != nil && ev.Registry.ID == id && ev.Action == "registry.change" {
			out = append(out, ev)
		}
	}
	return out
}

// TestRegistryDSALifecycle: a DSA suspended through the API stops reads
// under it at once, is audited with who and the old and new state, comes
// back on activate, renews only to a later expiry, and a terminated DSA
// stays terminated.
func TestRegistryDSALifecycle(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	admin := registryAdmin(env)
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking")
	id := publish(t, met, recordBody())
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read before: %d %s", r.Status, r.Body)
	}

	r := registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil, 200)
	ch := gatewaytest.Decode[api.RegistryChanged](t, r)
	if ch.Old != "active" || ch.New != "suspended" || ch.Version != 1 || ch.Unchanged {
		t.Fatalf("suspend: %+v", ch)
	}
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != http.StatusForbidden {
		t.Fatalf("read under a suspended DSA: %d %s", r.Status, r.Body)
	}
	d := gatewaytest.Decode[api.RegistryDSA](t, registryChange(t, admin, "GET", "/v1/registry/dsas/dsa-uk-soc", nil, 200))
	if d.Status != "suspended" || !d.Changed || !slices.Contains(d.Parties, "rocu-nw") ||
		!slices.Equal(d.Purposes, []string{"prevention", "investigation", "detection", "prosecution"}) {
		t.Fatalf("dsa view: %+v", d)
	}
	// Suspending again changes nothing and writes no version.
	if ch := gatewaytest.Decode[api.RegistryChanged](t, registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil, 200)); !ch.Unchanged || ch.Version != 1 {
		t.Fatalf("second suspend: %+v", ch)
	}
	registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/activate", nil, 200)
	if r := rocu.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read after activate: %d %s", r.Status, r.Body)
	}

	// Audit: who (agency and officer), what (the DSA), old and new state.
	evs := registryEntries(env, "dsa-uk-soc")
	if len(evs) < 2 {
		t.Fatalf("registry entries: %+v", evs)
	}
	first := evs[0]
	if first.Agency != "met-police" || first.Officer != "ra-1" || first.Operation != audit.OpAlteration ||
		first.Registry.Old != "active" || first.Registry.New != "suspended" || first.Registry.Version != 1 ||
		!slices.Contains(first.DSAIDs, "dsa-uk-soc") || first.Decision == nil || !first.Decision.Allow {
		t.Fatalf("suspend entry: %+v %+v", first, first.Registry)
	}
	// The replica's application is audited as a policy data reload naming the DSA.
	found := false
	for _, ev := range env.Audit() {
		if ev.Action == "policy.reload" && ev.Route == "policy:registry" && slices.Contains(ev.DSAIDs, "dsa-uk-soc") {
			found = true
		}
	}
	if !found {
		t.Fatal("no policy reload entry for the registry change")
	}

	// Renewal: a later expiry only; a bad date names its field and changes nothing.
	p := registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/renew", map[string]any{"expiry_date": "2020-01-01"}, 400).Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/expiry_date" {
		t.Fatalf("renew to an earlier date: %+v", p)
	}
	p = registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/renew", map[string]any{"expiry_date": "31/12/2030"}, 400).Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/expiry_date" {
		t.Fatalf("renew with a malformed date: %+v", p)
	}
	p = registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/renew", map[string]any{"expiry_date": "2030-12-31", "review_date": "2031-01-01"}, 400).Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Pointer != "/review_date" {
		t.Fatalf("renew with a review after the expiry: %+v", p)
	}
	ch = gatewaytest.Decode[api.RegistryChanged](t, registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/renew",
		map[string]any{"expiry_date": "2030-12-31", "review_date": "2029-12-31", "version": "2.0"}, 200))
	d = gatewaytest.Decode[api.RegistryDSA](t, registryChange(t, admin, "GET", "/v1/registry/dsas/dsa-uk-soc", nil, 200))
	if d.ExpiryDate != "2030-12-31" || d.ReviewDate != "2029-12-31" || d.Version != "2.0" || d.Status != "active" {
		t.Fatalf("after renewal: %+v (change %+v)", d, ch)
	}

	// Termination is final.
	registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-legacy-2023/terminate", nil, 200)
	registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-legacy-2023/activate", nil, http.StatusConflict)
	registryChange(t, admin, "POST", "/v1/registry/dsas/no-such-dsa/suspend", nil, http.StatusNotFound)

	// Without the role: refused by the policy, audited with what was asked.
	other := env.Client("met-police").WithToken(env.OfficerToken("met-police", jose.Officer{ID: "an-1", Roles: []string{"analyst"}}, time.Hour))
	wantReason(t, other.MustDo("POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil), http.StatusForbidden, "registry_admin_required")
	// The role claimed by an agency the registry does not allow it.
	nca := env.Client("nca").WithToken(env.OfficerToken("nca", jose.Officer{ID: "x-1", Roles: []string{"registry_admin"}}, time.Hour))
	wantReason(t, nca.MustDo("POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil), http.StatusForbidden, "registry_admin_required")
	refused := false
	for _, ev := range registryEntries(env, "dsa-uk-soc") {
		if ev.Officer == "an-1" && ev.Status == http.StatusForbidden && ev.Operation == audit.OpDenial && ev.Registry.Change == "suspend" {
			refused = true
		}
	}
	if !refused {
		t.Fatal("the refused change is not audited")
	}
	if d := gatewaytest.Decode[api.RegistryDSA](t, registryChange(t, admin, "GET", "/v1/registry/dsas/dsa-uk-soc", nil, 200)); d.Status != "active" {
		t.Fatalf("a refused change changed the DSA: %+v", d)
	}
}

// startReplicaOnStore starts a second gateway on a's object store and
// signing key (its own PKI, keys, audit log): what the registry shares
// between replicas is the store, and versions are signed with the
// gateway's signing key. The embedded key provider cannot be shared by two
// processes (its keyring is locked), so everything but registry/ is kept
// apart under a prefix of B's own: B cannot unwrap A's records or blind
// keys. Replicas sharing everything run on MinIO and Vault in
// TestRegistryReplicasRealStack.
func startReplicaOnStore(t *testing.T, a *gatewaytest.Env) *gatewaytest.Env {
	t.Helper()
	return gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Store, c.Signing = a.Cfg.Store, a.Cfg.Signing
	}, BuildOptions: []gateway.Option{gateway.WithStoreWrapper(func(s objstore.Store) objstore.Store {
		return &ownPrefix{Store: s, own: "replica-b/"}
	})}})
}

// ownPrefix keeps every key but the registry's under a prefix.
type ownPrefix struct {
	objstore.Store
	own string
}

func (p *ownPrefix) k(key string) string {
	if strings.HasPrefix(key, registry.Prefix) {
		return key
	}
	return p.own + key
}

func (p *ownPrefix) Put(ctx context.Context, key string, data []byte, o objstore.PutOptions) error {
	return p.Store.Put(ctx, p.k(key), data, o)
}
func (p *ownPrefix) Get(ctx context.Context, key string) ([]byte, error) {
	return p.Store.Get(ctx, p.k(key))
}
func (p *ownPrefix) GetVersion(ctx context.Context, key string) ([]byte, string, error) {
	return p.Store.GetVersion(ctx, p.k(key))
}
func (p *ownPrefix) Delete(ctx context.Context, key string) error {
	return p.Store.Delete(ctx, p.k(key))
}
func (p *ownPrefix) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if strings.HasPrefix(prefix, registry.Prefix) {
		return p.Store.List(ctx, prefix, after, limit)
	}
	if after != "" {
		after = p.own + after
	}
	keys, err := p.Store.List(ctx, p.own+prefix, after, limit)
	for i := range keys {
		keys[i] = strings.TrimPrefix(keys[i], p.own)
	}
	return keys, err
}

// TestRegistryReplicasConverge: a DSA suspended on replica A is in force on
// replica B within B's poll (default 500ms) — measured, not asserted
// against the clock — and concurrent changes from both replicas all land,
// each on its own version number.
func TestRegistryReplicasConverge(t *testing.T) {
	a := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	b := startReplicaOnStore(t, a)
	adminA, adminB := registryAdmin(a), registryAdmin(b)
	metB := b.Client("met-police")
	rocuB := b.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking")
	id := publish(t, metB, recordBody())
	if r := rocuB.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("read on B before: %d %s", r.Status, r.Body)
	}

	start := time.Now()
	registryChange(t, adminA, "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil, 200)
	written := time.Since(start)
	deadline := start.Add(30 * time.Second)
	for {
		r := rocuB.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica B still reads under the suspended DSA: %d", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("propagation A→B: change answered on A after %v, first refusal on B %v after the request", written, time.Since(start))
	if d := gatewaytest.Decode[api.RegistryDSA](t, registryChange(t, adminB, "GET", "/v1/registry/dsas/dsa-uk-soc", nil, 200)); d.Status != "suspended" {
		t.Fatalf("B's view: %+v", d)
	}
	// More changes at other phases of B's poll: each lands within one
	// interval (logged, not asserted against the clock).
	for i, c := range []struct {
		change string
		want   int
	}{{"activate", 200}, {"suspend", http.StatusForbidden}, {"activate", 200}, {"suspend", http.StatusForbidden}} {
		time.Sleep(time.Duration(97*(i+1)) * time.Millisecond)
		start := time.Now()
		registryChange(t, adminA, "POST", "/v1/registry/dsas/dsa-uk-soc/"+c.change, nil, 200)
		for deadline := start.Add(30 * time.Second); ; {
			if r := rocuB.MustDo("GET", "/v1/records/"+id, nil); r.Status == c.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on A not in force on B", c.change)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("propagation A→B of %s: %v", c.change, time.Since(start))
	}
	// B's own audit log records the application (policy reload from the registry).
	applied := false
	for _, ev := range b.Audit() {
		if ev.Action == "policy.reload" && ev.Route == "policy:registry" && slices.Contains(ev.DSAIDs, "dsa-uk-soc") {
			applied = true
		}
	}
	if !applied {
		t.Fatal("replica B did not audit applying the registry version")
	}

	// Concurrent changes from both replicas: each lands on its own version,
	// none is lost.
	var wg sync.WaitGroup
	results := make(chan api.RegistryChanged, 2)
	for _, c := range []struct {
		admin *gatewaytest.Client
		path  string
	}{
		{adminA, "/v1/registry/dsas/dsa-selec-ops/suspend"},
		{adminB, "/v1/registry/dsas/dsa-uk-soc/activate"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.admin.MustDo("POST", c.path, nil)
			if r.Status != 200 {
				t.Errorf("%s: %d %s", c.path, r.Status, r.Body)
				return
			}
			results <- *gatewaytest.Decode[api.RegistryChanged](t, r)
		}()
	}
	wg.Wait()
	close(results)
	var versions []uint64
	for ch := range results {
		versions = append(versions, ch.Version)
	}
	slices.Sort(versions)
	if !slices.Equal(versions, []uint64{6, 7}) {
		t.Fatalf("versions of the concurrent changes: %v, want 6 and 7", versions)
	}
	for _, e := range []*gatewaytest.Env{a, b} {
		adm := registryAdmin(e)
		deadline := time.Now().Add(30 * time.Second)
		for {
			l := gatewaytest.Decode[api.RegistryDSAs](t, registryChange(t, adm, "GET", "/v1/registry/dsas", nil, 200))
			st := map[string]string{}
			for _, d := range l.Items {
				st[d.ID] = d.Status
			}
			if l.Version == 7 && st["dsa-uk-soc"] == "active" && st["dsa-selec-ops"] == "suspended" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: both changes not in force: version %d %v", e.URL, l.Version, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRegistryBadInputRaw: hostile or malformed registry requests as raw
// HTTP bytes — each a 400 problem naming what is wrong, and the store and
// the registry unchanged.
func TestRegistryBadInputRaw(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	tok := env.OfficerToken("met-police", jose.Officer{ID: "ra-1", Roles: []string{"registry_admin"}}, time.Hour)
	auth := "Authorization: Bearer " + tok
	js := "Content-Type: application/json"
	before := storeState(t, env)
	cases := []struct {
		name, method, target string
		headers              []string
		body                 string
		pointer              string // the member the problem must name, if any
	}{
		{"renew without expiry", "POST", "/v1/registry/dsas/dsa-uk-soc/renew", []string{auth, js}, `{}`, "/expiry_date"},
		{"renew with a malformed date", "POST", "/v1/registry/dsas/dsa-uk-soc/renew", []string{auth, js}, `{"expiry_date":"2030-13-45"}`, "/expiry_date"},
		{"renew with an unknown member", "POST", "/v1/registry/dsas/dsa-uk-soc/renew", []string{auth, js}, `{"expiry_date":"2030-12-31","expiry":"x"}`, ""},
		{"renew not JSON", "POST", "/v1/registry/dsas/dsa-uk-soc/renew", []string{auth, js}, `{"expiry_date":`, ""},
		{"renew with a member twice", "POST", "/v1/registry/dsas/dsa-uk-soc/renew", []string{auth, js}, `{"expiry_date":"2030-12-31","expiry_date":"2031-12-31"}`, ""},
		{"suspend with a body", "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", []string{auth, js}, `{"status":"active"}`, ""},
		{"malformed DSA id", "POST", "/v1/registry/dsas/DSA_UK/suspend", []string{auth}, "", ""},
		{"agency without a country", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"sl-police","name":"Sierra Leone Police","org_type":"foreign_le"}`, "/country"},
		{"agency with a bad id", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"SL Police","name":"x","org_type":"foreign_le","country":"SLE"}`, "/id"},
		{"agency CA that is not PEM", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"sl-police","name":"Sierra Leone Police","org_type":"foreign_le","country":"SLE","ca_cert":"not a certificate"}`, "/ca_cert"},
		{"agency JWKS that is not a key set", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"sl-police","name":"Sierra Leone Police","org_type":"foreign_le","country":"SLE","jwks":{"keys":[{"kty":"oct","k":"AAAA"}]}}`, "/jwks"},
		{"agency JWKS URL over http", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"sl-police","name":"Sierra Leone Police","org_type":"foreign_le","country":"SLE","jwks_url":"http://idp.example/jwks"}`, "/jwks_url"},
		{"agency of a type the schema does not know", "POST", "/v1/registry/agencies", []string{auth, js}, `{"id":"sl-police","name":"Sierra Leone Police","org_type":"police_force","country":"SLE"}`, ""},
		{"unknown query parameter", "GET", "/v1/registry/dsas?status=active", []string{auth}, "", ""},
	}
	for _, c := range cases {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		r, err := env.Raw("met-police", env.RawRequest(c.method, c.target, c.headers, body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		var p api.Problem
		if err := api.Decode(r.Body, &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if c.pointer != "" && (len(p.Errors) == 0 || p.Errors[0].Pointer != c.pointer) {
			t.Errorf("%s: problem does not name %s: %+v", c.name, c.pointer, p)
		}
	}
	after := storeState(t, env)
	for k := range after {
		if strings.HasPrefix(k, registry.Prefix) {
			t.Errorf("a refused request wrote %s", k)
		}
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("a refused request changed %s", k)
		}
	}
	admin := registryAdmin(env)
	if l := gatewaytest.Decode[api.RegistryDSAs](t, registryChange(t, admin, "GET", "/v1/registry/dsas", nil, 200)); l.Version != 0 {
		t.Fatalf("registry version %d after refused requests", l.Version)
	}
}

// TestRegistryStoreDown: with the store failing, a change is a 503 and
// nothing is applied.
func TestRegistryStoreDown(t *testing.T) {
	var down atomic.Bool
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, BuildOptions: []gateway.Option{gateway.WithStoreWrapper(func(s objstore.Store) objstore.Store {
		return &failingRegistryStore{Store: s, down: &down}
	})}})
	admin := registryAdmin(env)
	down.Store(true)
	r := registryChange(t, admin, "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil, http.StatusServiceUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	down.Store(false)
	if d := gatewaytest.Decode[api.RegistryDSA](t, registryChange(t, admin, "GET", "/v1/registry/dsas/dsa-uk-soc", nil, 200)); d.Status != "active" {
		t.Fatalf("a change the store refused is in force: %+v", d)
	}
}

// failingRegistryStore fails every registry read and write while down.
type failingRegistryStore struct {
	objstore.Store
	down *atomic.Bool
}

func (f *failingRegistryStore) Put(ctx context.Context, key string, data []byte, o objstore.PutOptions) error {
	if f.down.Load() && strings.HasPrefix(key, registry.Prefix) {
		return objstore.ErrUnavailable
	}
	return f.Store.Put(ctx, key, data, o)
}

func (f *failingRegistryStore) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if f.down.Load() && strings.HasPrefix(prefix, registry.Prefix) {
		return nil, objstore.ErrUnavailable
	}
	return f.Store.List(ctx, prefix, after, limit)
}

// TestRegistryReplicasRealStack: two replicas sharing everything — one
// MinIO bucket, one Vault, the signing key — as in production. A DSA
// suspended on A is in force on B within B's poll; a record published on
// B under it is then refused on A too.
func TestRegistryReplicasRealStack(t *testing.T) {
	use, _ := gatewaytest.UseDevStack(t)
	a := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: use})
	b := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
		c.Store, c.Keys, c.Signing = a.Cfg.Store, a.Cfg.Keys, a.Cfg.Signing
	}})
	id := publish(t, b.Client("met-police"), recordBody())
	rocuA := a.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking")
	rocuB := b.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking")
	if r := rocuA.MustDo("GET", "/v1/records/"+id, nil); r.Status != 200 {
		t.Fatalf("A reads B's record: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	registryChange(t, registryAdmin(a), "POST", "/v1/registry/dsas/dsa-uk-soc/suspend", nil, 200)
	for deadline := start.Add(30 * time.Second); ; {
		if r := rocuB.MustDo("GET", "/v1/records/"+id, nil); r.Status == http.StatusForbidden {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica B still reads under the DSA suspended on A")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("propagation A→B on MinIO: %v", time.Since(start))
	registryChange(t, registryAdmin(b), "POST", "/v1/registry/dsas/dsa-uk-soc/activate", nil, 200)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if r := rocuA.MustDo("GET", "/v1/records/"+id, nil); r.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica A does not see the activation made on B")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
