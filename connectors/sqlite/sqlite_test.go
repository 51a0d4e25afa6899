package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/index/indextest"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openTest(t testing.TB) *Index {
	t.Helper()
	x, err := Open(filepath.Join(t.TempDir(), "index.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Backend { return openTest(t) })
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	x, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.SetState(ctx, "audit", "7"); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer x.Close()
	if v, err := x.GetState(ctx, "audit"); err != nil || v != "7" {
		t.Errorf("after reopen GetState = %q, %v", v, err)
	}
	var v int
	if err := x.r.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("schema_version = %d, %v; want %d", v, err, len(migrations))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	x, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.w.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if x, err := Open(path); err == nil {
		x.Close()
		t.Fatal("Open of a database from a newer schema succeeded")
	}
}

func TestBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	if err := os.WriteFile(path, []byte("this is not a database, just some bytes that fill a page or so"), 0o600); err != nil {
		t.Fatal(err)
	}
	x, err := Open(path)
	if err == nil {
		x.Close()
		t.Fatal("Open of a corrupt file succeeded")
	}
	if !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Open(corrupt) = %v, want ErrUnavailable", err)
	}
}

func TestMemoryRefused(t *testing.T) {
	if _, err := Open(":memory:"); !errors.Is(err, index.ErrInvalid) {
		t.Errorf("Open(:memory:) = %v, want ErrInvalid", err)
	}
}

func TestCancelledContext(t *testing.T) {
	x := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := x.Query(ctx, index.Query{Reader: "a", Limit: 1}); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Query(cancelled) = %v, want ErrUnavailable", err)
	}
}
