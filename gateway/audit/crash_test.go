package audit

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
)

// TestCrashChild is the process TestSIGKILLLosesNoAcknowledgedEntry kills:
// concurrent appenders that print each entry's request id and seq once
// Append has returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("LIAISON_TEST_AUDIT_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestSIGKILLLosesNoAcknowledgedEntry")
	}
	l, err := Open(filepath.Join(dir, "audit"), Options{Gateway: "gw-1", SigningKeyFile: filepath.Join(dir, "audit.jwk"),
		SegmentMaxEntries: 500, CheckpointEvery: 200})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	run := os.Getenv("LIAISON_TEST_AUDIT_CRASH_RUN")
	for w := range 16 {
		go func() {
			for i := 0; ; i++ {
				e := ev("record.publish")
				e.RequestID = fmt.Sprintf("%s-%d-%d", run, w, i)
				if err := l.Append(context.Background(), e); err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %d\n", e.RequestID, e.Seq)
				mu.Unlock()
			}
		}()
	}
	select {} // until killed
}

// TestSIGKILLLosesNoAcknowledgedEntry kills a writing process with SIGKILL
// at random moments, several times over one log: after each restart every
// acknowledged entry is there with its seq, and the log verifies.
func TestSIGKILLLosesNoAcknowledgedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	acked := map[string]uint64{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for run := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "LIAISON_TEST_AUDIT_CRASH_DIR="+dir, fmt.Sprintf("LIAISON_TEST_AUDIT_CRASH_RUN=r%d", run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Let it start and write, then kill it mid-flight.
		first, ok := <-lines
		if !ok {
			t.Fatalf("run %d: the child wrote nothing", run)
		}
		time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		n := 0
		for _, l := range append([]string{first}, drain(lines)...) {
			var id string
			var seq uint64
			if _, err := fmt.Sscanf(l, "ack %s %d", &id, &seq); err != nil {
				if strings.HasPrefix(l, "ack") {
					continue // the last line may be cut by the kill
				}
				t.Fatalf("child: %s", l)
			}
			acked[id] = seq
			n++
		}
		// Restart: recovery must accept the log, and nothing acknowledged is gone.
		l, err := Open(filepath.Join(dir, "audit"), Options{Gateway: "gw-1", SigningKeyFile: filepath.Join(dir, "audit.jwk")})
		if err != nil {
			t.Fatalf("run %d: reopen after SIGKILL: %v", run, err)
		}
		l.Close()
		evs, err := ReadFile(filepath.Join(dir, "audit"))
		if err != nil {
			t.Fatal(err)
		}
		have := make(map[string]uint64, len(evs))
		for _, e := range evs {
			have[e.RequestID] = e.Seq
		}
		for id, seq := range acked {
			if have[id] != seq {
				t.Fatalf("run %d: acknowledged entry %s (seq %d) lost after SIGKILL", run, id, seq)
			}
		}
		t.Logf("run %d: killed after %d acknowledgements; log has %d entries", run, n, len(evs))
	}
	s, err := jose.LoadOrCreateSigner(filepath.Join(dir, "audit.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := s.PublicJWKS()
	r, err := Verify(filepath.Join(dir, "audit"), VerifyOptions{JWKS: jwks})
	if err != nil || !r.OK {
		t.Fatalf("log after the crashes does not verify: %v %v", err, r.Failure)
	}
	t.Logf("%d acknowledged entries over 6 crashes, all present; %d entries verify", len(acked), r.Entries)
}

func drain(c chan string) []string {
	var out []string
	for l := range c {
		out = append(out, l)
	}
	return out
}
