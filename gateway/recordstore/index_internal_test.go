package recordstore

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/record"
)

// agencyFailingStore fails index writes for one agency while on.
type agencyFailingStore struct {
	objstore.Store
	agency string
	on     atomic.Bool
}

func (f *agencyFailingStore) Put(ctx context.Context, k string, d []byte, o objstore.PutOptions) error {
	if f.on.Load() && strings.HasPrefix(k, indexAgencyPrefix(f.agency)) {
		return objstore.ErrUnavailable
	}
	return f.Store.Put(ctx, k, d, o)
}

// TestIndexRetryWritesOnlyWhatFailed: when one agency's batch fails, the
// retry writes that agency's entries again and not the others', which
// would otherwise be listed twice.
func TestIndexRetryWritesOnlyWhatFailed(t *testing.T) {
	fs, err := fsstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &agencyFailingStore{Store: fs, agency: "rocu-nw"}
	ix := newIndex(st, time.Now, time.Hour, nil) // the timer never fires here: flush drives it
	ctx := context.Background()
	id := record.NewID(time.Now())
	st.on.Store(true)
	if err := ix.Add(ctx, id, []string{"met-police", "rocu-nw"}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Flush(ctx); err == nil {
		t.Fatal("flush with a failing store must report it")
	}
	st.on.Store(false)
	if err := ix.Flush(ctx); err != nil {
		t.Fatalf("retry: %v", err)
	}
	for agency, want := range map[string]int{"met-police": 1, "rocu-nw": 1} {
		keys, err := fs.List(ctx, indexAgencyPrefix(agency), "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != want {
			t.Fatalf("%s: %d batch objects %v, want %d", agency, len(keys), keys, want)
		}
		cands, more, err := ix.Scan(ctx, agency, Cursor{}, 10)
		if err != nil || more || len(cands) != 1 || cands[0].ID != id {
			t.Fatalf("%s: scan = %+v more=%v err=%v", agency, cands, more, err)
		}
	}
}
