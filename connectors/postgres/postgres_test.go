package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/index/indextest"
	"github.com/liaison-project/liaison/deploy/devstack"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func randSchema(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t_" + hex.EncodeToString(b)
}

// dropSchema removes a test's schema after it (over its own connection:
// the test may have closed the index).
func dropSchema(t testing.TB, dsn, schema string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
}

// openTest opens an index in a fresh schema of the dev stack's database.
func openTest(t testing.TB, opts ...Option) (*Index, string) {
	t.Helper()
	pg := devstack.Postgres(t)
	schema := randSchema(t)
	dropSchema(t, pg.DSN, schema)
	x, err := Open(context.Background(), pg.DSN, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { x.Close() })
	return x, schema
}

func TestConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T) index.Backend {
		x, _ := openTest(t)
		return x
	})
}

// TestConcurrentOpen starts several replicas on one empty schema at once:
// the advisory lock lets one migrate, and every Open succeeds.
func TestConcurrentOpen(t *testing.T) {
	pg := devstack.Postgres(t)
	schema := randSchema(t)
	dropSchema(t, pg.DSN, schema)
	const n = 4
	var wg sync.WaitGroup
	xs := make([]*Index, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			xs[i], errs[i] = Open(context.Background(), pg.DSN, WithSchema(schema))
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer xs[i].Close()
	}
	if t.Failed() {
		return
	}
	ctx := context.Background()
	var rows int
	if err := xs[0].pool.QueryRow(ctx, `SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("schema_version rows = %d, %v; want 1", rows, err)
	}
	if err := xs[1].SetState(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := xs[3].GetState(ctx, "k"); err != nil || v != "v" {
		t.Errorf("another replica reads %q, %v", v, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	x, schema := openTest(t)
	if _, err := x.pool.Exec(context.Background(), `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if y, err := Open(context.Background(), devstack.Postgres(t).DSN, WithSchema(schema)); err == nil {
		y.Close()
		t.Fatal("Open of a schema migrated by a newer binary succeeded")
	}
}

func TestInvalidOptions(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "postgres://u:p@127.0.0.1:1/x", WithSchema("Robert'); DROP TABLE x;--")); !errors.Is(err, index.ErrInvalid) {
		t.Errorf("bad schema name: %v, want ErrInvalid", err)
	}
	_, err := Open(ctx, "postgres://u:s3cret@127.0.0.1:notaport/x")
	if !errors.Is(err, index.ErrInvalid) {
		t.Errorf("bad DSN: %v, want ErrInvalid", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error discloses the password: %v", err)
	}
}

// TestUnreachable: nothing listens at the address.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Open(ctx, "postgres://u:p@"+addr+"/liaison?sslmode=disable", WithTimeout(2*time.Second))
	if !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Open(unreachable) = %v, want ErrUnavailable", err)
	}
}

// TestSilentServer: the address accepts connections and never answers. A
// deadline ends the attempt (the test's timeout is what catches a hang).
func TestSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = Open(ctx, "postgres://u:p@"+l.Addr().String()+"/liaison?sslmode=disable", WithTimeout(time.Second))
	if !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Open(silent server) = %v, want ErrUnavailable", err)
	}
}

// proxy forwards TCP to the dev stack's PostgreSQL, and can cut every
// connection (a stopped server) or stop forwarding while keeping them open
// (a frozen server or a partition), without disturbing the shared server.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen chan struct{} // closed while forwarding
	wg     sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, frozen: make(chan struct{})}
	close(p.frozen)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.frozen
			p.mu.Unlock()
			<-gate // blocks while frozen; closing the conns ends it via stop
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				dst.Close()
			}
			return
		}
	}
}

// freeze stops forwarding bytes; connections stay open.
func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = make(chan struct{})
	p.mu.Unlock()
}

// stop closes the listener and every connection (a stopped server).
func (p *proxy) stop() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	select {
	case <-p.frozen:
	default:
		close(p.frozen)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func proxiedDSN(t *testing.T, dsn string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("LIAISON_TEST_POSTGRES_DSN is not a URL")
	}
	p := startProxy(t, u.Host)
	u.Host = p.l.Addr().String()
	return p, u.String()
}

func entry(id string) index.Entry {
	return index.Entry{RecordID: id, Version: 1, State: "active", Created: time.Now().UTC(), Originator: "ag-a",
		Readers: []string{"ag-a"}}
}

// TestServerStopped: the server goes away under an open index. Every call
// fails with ErrUnavailable, none hangs.
func TestServerStopped(t *testing.T) {
	pg := devstack.Postgres(t)
	p, dsn := proxiedDSN(t, pg.DSN)
	schema := randSchema(t)
	dropSchema(t, pg.DSN, schema)
	x, err := Open(context.Background(), dsn, WithSchema(schema), WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	if err := x.Upsert(ctx, entry("rec_1")); err != nil {
		t.Fatal(err)
	}
	p.stop()
	if _, err := x.Query(ctx, index.Query{Reader: "ag-a", Limit: 10}); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Query after stop = %v, want ErrUnavailable", err)
	}
	if err := x.Upsert(ctx, entry("rec_2")); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Upsert after stop = %v, want ErrUnavailable", err)
	}
	if err := x.Ping(ctx); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Ping after stop = %v, want ErrUnavailable", err)
	}
}

// TestServerFrozen: the server stops answering but keeps the connections
// (SIGSTOP, a partition): calls end at their deadline with ErrUnavailable.
func TestServerFrozen(t *testing.T) {
	pg := devstack.Postgres(t)
	p, dsn := proxiedDSN(t, pg.DSN)
	schema := randSchema(t)
	dropSchema(t, pg.DSN, schema)
	x, err := Open(context.Background(), dsn, WithSchema(schema), WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	// Cut the frozen connections before Close: pgxpool gives each close of
	// a connection that never answers 15s.
	defer p.stop()
	ctx := context.Background()
	if err := x.Upsert(ctx, entry("rec_1")); err != nil {
		t.Fatal(err)
	}
	p.freeze()
	// The default timeout applies to a context without a deadline.
	if _, err := x.Query(ctx, index.Query{Reader: "ag-a", Limit: 10}); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Query while frozen = %v, want ErrUnavailable", err)
	}
	// The caller's deadline applies when there is one.
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := x.Get(dctx, "rec_1"); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Get while frozen = %v, want ErrUnavailable", err)
	}
	if err := x.Upsert(ctx, entry("rec_2")); !errors.Is(err, index.ErrUnavailable) {
		t.Errorf("Upsert while frozen = %v, want ErrUnavailable", err)
	}
}
