package main

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
)

// TestCrashKeepsEveryAcknowledgedEntry runs the real binary (`liaison dev`)
// under concurrent publishes and kills it with SIGKILL at random moments,
// several times. After every crash and restart, each publish that was
// acknowledged (201) must have its audit entry and be readable, and the
// audit log must verify.
func TestCrashKeepsEveryAcknowledgedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and crashes it several times; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "liaison")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	body, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	const rounds = 4
	for round := 0; round < rounds; round++ {
		g := startDev(t, bin, dir)
		client := devClient(t, dir, "met-police")
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					id, ok := publishOnce(ctx, client, g.url, body)
					if ok {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+rand.IntN(900)) * time.Millisecond)
		g.kill(t) // SIGKILL mid-traffic: some requests are cut off unacknowledged
		stop()
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no publish was acknowledged: the test proved nothing")
	}

	// Restart once more (recovery runs at open), check, stop cleanly.
	g := startDev(t, bin, dir)
	client := devClient(t, dir, "met-police")
	for id := range acked {
		resp, err := client.Get(g.url + "/v1/records/" + id)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("acknowledged record %s lost after crashes: %d", id, resp.StatusCode)
		}
	}
	// Every acknowledged record is also listable: listing-index entries that
	// were still waiting to be written when the process died are recovered
	// from the audit log at start.
	listed := map[string]bool{}
	for cursor, pages := "", 0; ; pages++ {
		if pages > len(acked) {
			t.Fatal("listing does not terminate")
		}
		resp, err := client.Get(g.url + "/v1/records?limit=100&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			t.Fatal(err)
		}
		var page api.RecordList
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			err = api.Decode(b, &page)
		}
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list: %d %v", resp.StatusCode, err)
		}
		for _, it := range page.Items {
			listed[it.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for id := range acked {
		if !listed[id] {
			t.Fatalf("acknowledged record %s is readable but not listed after crashes", id)
		}
	}
	g.term(t)
	logDir := filepath.Join(dir, "audit")
	rep, err := audit.Verify(logDir, audit.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("audit log does not verify after %d crashes: %v %+v", rounds, err, rep)
	}
	evs, err := audit.Query([]string{logDir}, audit.Filter{Operation: audit.OpCollection}, 0)
	if err != nil {
		t.Fatal(err)
	}
	logged := map[string]bool{}
	for _, e := range evs {
		for _, id := range e.RecordIDs {
			logged[id] = true
		}
	}
	for id := range acked {
		if !logged[id] {
			t.Fatalf("acknowledged publish %s has no audit entry", id)
		}
	}
	// The other way round (issue 9 item 15): every collection entry that no
	// later entry corrects is a record that exists. A publish cut off
	// between its audit entry and its object PUT was corrected by recovery.
	all, err := audit.Query([]string{logDir}, audit.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	corrected := map[uint64]bool{}
	for _, e := range all {
		if e.Corrects != 0 {
			corrected[e.Corrects] = true
		}
	}
	g = startDev(t, bin, dir)
	client = devClient(t, dir, "met-police")
	standing, corrections := 0, len(corrected)
	for _, e := range evs {
		if e.Action != "record.publish" || e.Status != http.StatusCreated || e.Corrects != 0 || corrected[e.Seq] {
			continue
		}
		standing++
		resp, err := client.Get(g.url + "/v1/records/" + e.RecordIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("audit entry %d says record %s was collected (201), no entry corrects it, but the record reads %d",
				e.Seq, e.RecordIDs[0], resp.StatusCode)
		}
	}
	g.term(t)
	t.Logf("%d standing collection entries all stored; %d corrected", standing, corrections)
	t.Logf("%d crashes, %d acknowledged publishes, %d audit entries, all accounted for", rounds, len(acked), rep.Entries)
}

type devProcess struct {
	cmd *exec.Cmd
	url string
}

func startDev(t *testing.T, bin, dir string, env ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "error")
	// The final read-back is a burst well past the dev rate limit; the limit
	// is not what this test is about.
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1", "LIAISON_LIMITS_RATE_PER_AGENCY=0"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, "agency API (mutual TLS)") {
				f := strings.Fields(line)
				urlc <- f[len(f)-1]
			}
		}
	}()
	select {
	case u := <-urlc:
		return &devProcess{cmd: cmd, url: u}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("liaison dev did not start")
		return nil
	}
}

func (p *devProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (p *devProcess) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatal("liaison dev did not stop on SIGTERM")
	}
}

func devClient(t *testing.T, dir, agency string) *http.Client {
	t.Helper()
	pk := filepath.Join(dir, "pki")
	cfg, err := pki.ClientTLSConfig(filepath.Join(pk, "agencies", agency, "cert.pem"), filepath.Join(pk, "agencies", agency, "key.pem"),
		[]string{filepath.Join(pk, "ca.pem")}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// publishOnce returns the id of an acknowledged publish.
func publishOnce(ctx context.Context, c *http.Client, url string, body []byte) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/records", strings.NewReader(string(body)))
	if err != nil {
		return "", false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", false
	}
	var r api.Published
	if err := api.Decode(b, &r); err != nil {
		return "", false
	}
	return r.ID, true
}
