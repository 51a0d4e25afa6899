package gateway_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// TestIndexRebuildAndKeyRotation: the index is rebuilt from the store
// after its database is lost (resuming after an interruption), and a
// blind-index key is rotated, every record re-indexed and the old key
// retired, after which searches still find the records' selectors.
func TestIndexRebuildAndKeyRotation(t *testing.T) {
	dir := t.TempDir()
	env := gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	met := env.Client("met-police")
	var ids []string
	for i := 0; i < 7; i++ {
		ids = append(ids, publish(t, met, recordBody(func(m map[string]any) {
			m["ocg_ids"] = []any{"ocg-2291"}
			if i == 3 {
				m["selectors"] = []any{map[string]any{"type": "phone", "value": "020 7946 0018"}}
			}
		})))
	}
	slices.Sort(ids)
	cfg := env.Cfg
	env.Stop()

	// The index database is lost.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(cfg.Index.SQLite.Path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	ops, err := gateway.OpenIndexOps(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := ops.Status(ctx, "sqlite"); err != nil || st.Entries != 0 {
		t.Fatalf("status of a lost index: %+v %v", st, err)
	}
	// A rebuild interrupted after its first page of 3 resumes after it.
	cctx, cancel := context.WithCancel(ctx)
	p, err := ops.Rebuild(cctx, recordstore.RebuildOptions{PageSize: 3, Progress: func(recordstore.RebuildProgress) { cancel() }})
	if err == nil || p.Done != 3 || p.Last != ids[2] {
		t.Fatalf("interrupted rebuild: %+v %v", p, err)
	}
	if st, _ := ops.Status(ctx, "sqlite"); st.RebuildResumesAfter != ids[2] {
		t.Fatalf("resume point %q, want %s", st.RebuildResumesAfter, ids[2])
	}
	p, err = ops.Rebuild(ctx, recordstore.RebuildOptions{PageSize: 3})
	if err != nil || p.Resumed != ids[2] || p.Done != 4 {
		t.Fatalf("resumed rebuild: %+v %v", p, err)
	}
	st, err := ops.Status(ctx, "sqlite")
	if err != nil || st.Entries != 7 || st.BlindValues != 1 || st.RebuildResumesAfter != "" || st.LastRebuild == "" || !slices.Equal(st.KeyVersions, []int{1}) {
		t.Fatalf("status after the rebuild: %+v %v", st, err)
	}

	// Key rotation: retiring before a rebuild under the new key is refused.
	if v, err := ops.RotateKey(ctx); err != nil || v != 2 {
		t.Fatalf("rotate: %d %v", v, err)
	}
	if _, err := ops.RetireKeys(ctx); err == nil {
		t.Fatal("retired the old key before any rebuild under the new one")
	}
	if _, err := ops.Rebuild(ctx, recordstore.RebuildOptions{Restart: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := ops.Status(ctx, "sqlite"); st.BlindValues != 2 {
		t.Fatalf("during rotation a selector has a value per key version: %+v", st)
	}
	if v, err := ops.RetireKeys(ctx); err != nil || !slices.Equal(v, []int{1}) {
		t.Fatalf("retire: %v %v", v, err)
	}
	if st, _ := ops.Status(ctx, "sqlite"); st.BlindValues != 1 || !slices.Equal(st.KeyVersions, []int{2}) {
		t.Fatalf("after retiring: %+v", st)
	}
	ops.Close()
	// The retired key is destroyed: its object keeps no wrapped key.
	b, err := os.ReadFile(filepath.Join(cfg.Store.FS.Dir, "index", "blind-keys", "000001"))
	if err != nil || strings.Contains(string(b), `"wrapped"`) || !strings.Contains(string(b), `"retired"`) {
		t.Fatalf("retired key object: %s %v", b, err)
	}

	// The gateway again: listing and search work on the rebuilt index.
	env = gatewaytest.Start(t, gatewaytest.Options{Dir: dir, Quiet: true})
	if got := listIDs(t, env.Client("rocu-nw"), "ocg=ocg-2291"); !slices.Equal(got, ids) {
		t.Fatalf("listing after the rebuild: %v, want %v", got, ids)
	}
	r := env.Client("nca").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42", hCase, "OP-1").MustDo("POST", "/v1/search",
		map[string]any{"selectors": []any{map[string]any{"type": "phone", "value": "+442079460018"}}})
	res := gatewaytest.Decode[api.SearchResult](t, r)
	if r.Status != 200 || len(res.Selectors[0].Hits) != 1 {
		t.Fatalf("search after rotation: %d %s", r.Status, r.Body)
	}
}
