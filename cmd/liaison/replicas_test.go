package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway/api"
)

// replica is one `liaison serve` process of a replicated gateway.
type replica struct {
	name     string
	cmd      *exec.Cmd
	url      string // agency API
	admin    string // admin API
	auditDir string
	served   atomic.Int64 // requests it answered (any status)
	errors   atomic.Int64 // requests that got no answer
	dead     atomic.Bool
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startReplica(t *testing.T, bin, conf string, env []string, r *replica) {
	t.Helper()
	listen, admin := freePort(t), freePort(t)
	_, port, _ := net.SplitHostPort(listen)
	r.url, r.admin = "https://localhost:"+port, "http://"+admin
	cmd := exec.Command(bin, "serve", "--config", conf)
	cmd.Env = append(append(os.Environ(), env...), "LIAISON_LISTEN="+listen, "LIAISON_ADMIN_LISTEN="+admin,
		"LIAISON_AUDIT_PATH="+r.auditDir, "LIAISON_AUDIT_NODE_ID="+r.name)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.cmd = cmd
	r.dead.Store(false)
	t.Cleanup(func() {
		if !r.dead.Load() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(r.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	t.Fatalf("replica %s not ready: %s", r.name, stderr.String())
}

// do sends one request to r, counting what r served.
func (r *replica) do(ctx context.Context, c *http.Client, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Liaison-Purpose", "investigation")
	req.Header.Set("Liaison-Justification", "replica load test")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.errors.Add(1)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.errors.Add(1)
		return 0, nil, err
	}
	r.served.Add(1)
	return resp.StatusCode, b, nil
}

// TestReplicaProcessesKill9: two `liaison serve` processes of one gateway
// on the real stack (one MinIO bucket, one Vault, one PostgreSQL index
// schema; an audit log each) under a load that publishes on one replica
// and reads, lists, shares and recalls on the other. One replica is killed
// with SIGKILL mid-load; the survivor keeps serving, every acknowledged
// publish is readable on it afterwards, both audit logs verify and merge
// (`audit verify`/`audit query` with --dir twice), and the killed replica
// restarts on its log.
func TestReplicaProcessesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two replicas on the real stack; run without -short")
	}
	mi, va, pg := devstack.MinIO(t), devstack.Vault(t), devstack.Postgres(t)
	bin := filepath.Join(t.TempDir(), "liaison")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var rb [5]byte
	_, _ = rand.Read(rb[:])
	tag := hex.EncodeToString(rb[:])
	schema := "t_" + tag
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, pg.DSN); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	dir := t.TempDir()
	_, conf := devConfig(t, dir)
	env := []string{
		"LIAISON_STORE_BACKEND=minio", "LIAISON_STORE_MINIO_ENDPOINT=" + mi.Endpoint, "LIAISON_STORE_MINIO_BUCKET=liaison-" + tag,
		"LIAISON_STORE_MINIO_CREATE_BUCKET=true", "LIAISON_STORE_MINIO_VERSIONING=true",
		"LIAISON_STORE_MINIO_CREDENTIALS_ACCESS_KEY=" + mi.AccessKey, "LIAISON_STORE_MINIO_CREDENTIALS_SECRET_KEY=" + mi.SecretKey,
		"LIAISON_KEYS_PROVIDER=vault", "LIAISON_KEYS_VAULT_ADDRESS=" + va.Addr, "LIAISON_KEYS_VAULT_AUTH_METHOD=token",
		"LIAISON_KEYS_VAULT_AUTH_TOKEN=" + va.Token, "LIAISON_KEYS_VAULT_AUTO_CREATE=true", "LIAISON_KEYS_VAULT_KEY_NAME_PATTERN=t" + tag + "-{name}",
		"LIAISON_INDEX_BACKEND=postgres", "LIAISON_INDEX_POSTGRES_DSN=" + pg.DSN, "LIAISON_INDEX_POSTGRES_SCHEMA=" + schema,
		"LIAISON_LIMITS_RATE_PER_AGENCY=0", "LIAISON_AUDIT_SHIP_INTERVAL=300ms",
	}
	a := &replica{name: "node-a", auditDir: filepath.Join(dir, "audit-a")}
	b := &replica{name: "node-b", auditDir: filepath.Join(dir, "audit-b")}
	startReplica(t, bin, conf, env, a)
	startReplica(t, bin, conf, env, b)

	body, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	met := devClient(t, dir, "met-police")
	var (
		mu       sync.Mutex
		acked    = map[string]bool{} // publishes answered 201
		recalled = map[string]bool{} // recalls answered 200
		// recalls sent without an answer (the replica was killed with the
		// request in flight): the record may or may not be recalled.
		recallUnanswered   = map[string]bool{}
		ackedAfterKill     atomic.Int64
		killed             atomic.Bool
		errsDuringKill     atomic.Int64
		crossFailures      []string
		publishes, shares  atomic.Int64
		reads, lists, recs atomic.Int64
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				// Publish on one replica, act on the record on the other;
				// a dead replica's share of the work goes to the survivor.
				on, other := a, b
				if (w+i)%2 == 1 {
					on, other = b, a
				}
				if on.dead.Load() {
					on = other
				}
				if other.dead.Load() {
					other = on
				}
				st, rb, err := on.do(ctx, met, "POST", "/v1/records", body)
				if err != nil || st != http.StatusCreated {
					if killed.Load() && err != nil {
						errsDuringKill.Add(1)
					}
					continue
				}
				var p api.Published
				if api.Decode(rb, &p) != nil {
					continue
				}
				publishes.Add(1)
				mu.Lock()
				acked[p.ID] = true
				mu.Unlock()
				if killed.Load() {
					ackedAfterKill.Add(1)
				}
				if st, rb, err := other.do(ctx, met, "GET", "/v1/records/"+p.ID, nil); err == nil {
					reads.Add(1)
					if st != http.StatusOK {
						mu.Lock()
						crossFailures = append(crossFailures, fmt.Sprintf("read on %s after publish on %s: %d %s", other.name, on.name, st, rb))
						mu.Unlock()
					}
				}
				switch i % 4 {
				case 0:
					if _, _, err := other.do(ctx, met, "GET", "/v1/records?limit=5", nil); err == nil {
						lists.Add(1)
					}
				case 1:
					if st, rb, err := other.do(ctx, met, "POST", "/v1/records/"+p.ID+"/shares", []byte(`{"recipients":["nca"]}`)); err == nil {
						shares.Add(1)
						if st != http.StatusOK {
							mu.Lock()
							crossFailures = append(crossFailures, fmt.Sprintf("share on %s: %d %s", other.name, st, rb))
							mu.Unlock()
						}
					}
				case 2:
					st, _, err := other.do(ctx, met, "DELETE", "/v1/records/"+p.ID, nil)
					switch {
					case err == nil && st == http.StatusOK:
						recs.Add(1)
						mu.Lock()
						recalled[p.ID] = true
						mu.Unlock()
					default:
						mu.Lock()
						recallUnanswered[p.ID] = true
						mu.Unlock()
					}
				}
			}
		})
	}
	waitFor := func(n int64) {
		deadline := time.Now().Add(2 * time.Minute)
		for publishes.Load() < n && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(60)
	// kill -9 replica b in the middle of the load.
	killed.Store(true)
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.cmd.Wait()
	b.dead.Store(true)
	before := publishes.Load()
	waitFor(before + 60)
	stop()
	wg.Wait()

	// Every acknowledged publish is on the survivor: readable, or gone
	// (410) when the load recalled it. A recall whose answer never came
	// back 200 (the kill, or the end of the load, cut it off; or it
	// answered an error after its effect) may or may not have taken
	// effect: a 410 for it is right when one of the audit logs holds the
	// recall (checked below). A recall answered 200 must read 410.
	readable, gone, lost, unanswered := 0, 0, 0, 0
	var recalledUnseen []string // 410 without a recall answered 200
	for id := range acked {
		st, rb, err := a.do(context.Background(), met, "GET", "/v1/records/"+id, nil)
		switch {
		case err == nil && st == http.StatusOK && !recalled[id]:
			readable++
		case err == nil && st == http.StatusGone && recalled[id]:
			gone++
		case err == nil && st == http.StatusGone:
			unanswered++
			recalledUnseen = append(recalledUnseen, id)
		default:
			lost++
			t.Errorf("acknowledged %s (recall answered 200: %v, recall sent without an answer: %v): %d %v %s", id, recalled[id], recallUnanswered[id], st, err, rb)
		}
	}
	t.Logf("figures: acknowledged %d (after the kill %d), readable on the survivor %d, recalled (410) %d, recalled by a request whose 200 never arrived %d, lost %d",
		len(acked), ackedAfterKill.Load(), readable, gone, unanswered, lost)
	t.Logf("figures: served by node-a %d, by node-b %d; requests without an answer: node-a %d, node-b %d (publishes failing during the kill %d)",
		a.served.Load(), b.served.Load(), a.errors.Load(), b.errors.Load(), errsDuringKill.Load())
	t.Logf("figures: %d publishes, %d cross-replica reads, %d lists, %d shares, %d recalls", publishes.Load(), reads.Load(), lists.Load(), shares.Load(), recs.Load())
	if lost != 0 {
		t.Fatalf("%d acknowledged publishes lost", lost)
	}
	if ackedAfterKill.Load() == 0 {
		t.Fatal("the load did not continue on the survivor after the kill")
	}
	if b.served.Load() == 0 || a.served.Load() == 0 {
		t.Fatal("a replica served nothing: the load was not spread")
	}
	for _, f := range crossFailures {
		t.Error(f)
	}

	// The killed replica restarts on its own log (recovery), and both
	// logs verify and merge.
	startReplica(t, bin, conf, env, b)
	if st, _, err := b.do(context.Background(), met, "GET", "/v1/records?limit=5", nil); err != nil || st != http.StatusOK {
		t.Fatalf("restarted replica: %d %v", st, err)
	}
	for _, r := range []*replica{a, b} {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		_ = r.cmd.Wait()
		r.dead.Store(true)
	}
	code, out, errOut := runBin(t, bin, "audit", "verify", "--dir", a.auditDir, "--dir", b.auditDir, "-o", "text")
	if code != 0 {
		t.Fatalf("audit verify over both replicas: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("audit verify: %s", firstLines(out, 6))
	code, out, errOut = runBin(t, bin, "audit", "query", "--dir", a.auditDir, "--dir", b.auditDir, "--operation", "collection", "-o", "json")
	if code != 0 {
		t.Fatalf("audit query over both replicas: exit %d\n%s", code, errOut)
	}
	n := bytes.Count([]byte(out), []byte(`"operation":"collection"`))
	// A recall whose answer the kill cut off but which took effect is on
	// the audit record of one of the two logs, like any other.
	if len(recalledUnseen) > 0 {
		code, erasures, errOut := runBin(t, bin, "audit", "query", "--dir", a.auditDir, "--dir", b.auditDir, "--operation", "erasure", "-o", "json")
		if code != 0 {
			t.Fatalf("audit query (erasure): exit %d\n%s", code, errOut)
		}
		for _, id := range recalledUnseen {
			if !strings.Contains(erasures, id) {
				t.Errorf("record %s reads 410 but neither log holds its recall", id)
			}
		}
	}
	t.Logf("audit query over both logs: %d collection entries for %d acknowledged publishes", n, len(acked))
	if n < len(acked) {
		t.Fatalf("the merged audit logs hold %d collection entries, fewer than the %d acknowledged publishes", n, len(acked))
	}
}

func runBin(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

func firstLines(s string, n int) string {
	lines := bytes.SplitN([]byte(s), []byte("\n"), n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
