package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
)

func ev(action string) *Event {
	return &Event{Time: Now(), Gateway: "gw-1", RequestID: "r", Operation: OpConsultation, Action: action, Status: 200, Agency: "met-police"}
}

var (
	testSignerOnce sync.Once
	testSigner     *jose.Signer
	testKeyDir     string
)

// signer is one audit key for the whole test binary (key generation is
// cheap, but one key keeps pinned-key tests simple).
func signer(t testing.TB) *jose.Signer {
	t.Helper()
	testSignerOnce.Do(func() {
		testKeyDir, _ = os.MkdirTemp("", "audit-key")
		s, err := jose.LoadOrCreateSigner(filepath.Join(testKeyDir, "audit.jwk.json"))
		if err != nil {
			panic(err)
		}
		testSigner = s
	})
	return testSigner
}

func openLog(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	if o.Gateway == "" {
		o.Gateway = "gw-1"
	}
	if o.Signer == nil {
		o.Signer = signer(t)
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustVerify(t testing.TB, dir string, want uint64) *Report {
	t.Helper()
	jwks, _ := signer(t).PublicJWKS()
	r, err := Verify(dir, VerifyOptions{JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.Entries != want {
		t.Fatalf("verify: %d entries (want %d), failure %v", r.Entries, want, r.Failure)
	}
	return r
}

func TestAppendChainsAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	var wg sync.WaitGroup
	seqs := make([]uint64, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := ev("record.read")
			if err := l.Append(context.Background(), e); err != nil {
				t.Error(err)
			}
			seqs[i] = e.Seq
		}()
	}
	wg.Wait()
	l.Close()
	seen := map[uint64]bool{}
	for _, s := range seqs {
		if s == 0 || s > 200 || seen[s] {
			t.Fatalf("Append did not give each entry its own seq: %v", seqs)
		}
		seen[s] = true
	}
	r := mustVerify(t, dir, 200)
	if r.SignedSize != 200 || r.Unsigned != 0 {
		t.Fatalf("Close must sign a last checkpoint: signed %d unsigned %d", r.SignedSize, r.Unsigned)
	}
	l = openLog(t, dir, Options{})
	if err := l.Append(context.Background(), ev("record.list")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	evs, err := ReadFile(dir)
	if err != nil || len(evs) != 201 || evs[200].Seq != 201 || evs[200].Prev != evs[199].Hash {
		t.Fatalf("reopen did not continue the chain: %d entries, err %v", len(evs), err)
	}
	mustVerify(t, dir, 201)
	// The legacy file path still resolves to the log.
	if n, err := VerifyFile(filepath.Join(dir, "audit.jsonl")); err != nil || n != 201 {
		t.Fatalf("VerifyFile on a file path: %d %v", n, err)
	}
}

func TestSegmentsRotateAndEverySealIsCheckpointed(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 10, CheckpointEvery: 1000})
	for range 35 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := listSegments(dir)
	if len(segs) != 4 {
		t.Fatalf("want 4 segments of 10, 10, 10, 5 entries, got %d", len(segs))
	}
	cps, _ := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if n := bytes.Count(cps, []byte("\n")); n != 3 {
		t.Fatalf("want a checkpoint at each of 3 seals, got %d", n)
	}
	l.Close()
	r := mustVerify(t, dir, 35)
	if r.Segments != 4 || r.Checkpoints != 4 {
		t.Fatalf("report: %+v", r)
	}
}

func TestTornTailIsCutOnOpenAndKept(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{})
	for range 3 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	seg := filepath.Join(dir, segmentName(1))
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"20`) // a crash mid-append: never acknowledged
	f.Close()
	if _, err := VerifyFile(dir); err == nil {
		t.Fatal("verify accepted a torn tail")
	}
	l = openLog(t, dir, Options{})
	if err := l.Append(context.Background(), ev("y")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	mustVerify(t, dir, 4)
	kept, _ := filepath.Glob(filepath.Join(dir, "torn-*.bin"))
	if len(kept) != 1 {
		t.Fatalf("torn tail not kept: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != `{"seq":4,"time":"20` {
		t.Fatalf("kept tail: %q", b)
	}
}

func TestOpenRefusesAlteredLogs(t *testing.T) {
	mk := func(t *testing.T) (string, []byte) {
		dir := t.TempDir()
		l := openLog(t, dir, Options{})
		for range 5 {
			l.Append(context.Background(), ev("record.read"))
		}
		l.Close()
		b, _ := os.ReadFile(filepath.Join(dir, segmentName(1)))
		return dir, b
	}
	lines := func(b []byte) [][]byte { return bytes.SplitAfter(b, []byte("\n")) }
	tests := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"edit a field", func(b []byte) []byte { return bytes.Replace(b, []byte(`"status":200`), []byte(`"status":201`), 1) }},
		{"delete an entry", func(b []byte) []byte { l := lines(b); return bytes.Join(append(l[:1:1], l[2:]...), nil) }},
		{"swap entries", func(b []byte) []byte { l := lines(b); l[1], l[2] = l[2], l[1]; return bytes.Join(l, nil) }},
		{"drop the last entry (under a checkpoint)", func(b []byte) []byte { l := lines(b); return bytes.Join(l[:4], nil) }},
		{"garble the middle, keep the tail", func(b []byte) []byte { l := lines(b); l[2] = []byte("garbage\n"); return bytes.Join(l, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, b := mk(t)
			os.WriteFile(filepath.Join(dir, segmentName(1)), tc.mutate(b), 0o600)
			if _, err := VerifyFile(dir); !errors.Is(err, ErrTampered) {
				t.Fatalf("tampering not detected: %v", err)
			}
			if _, err := Open(dir, Options{Signer: signer(t)}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open accepted an altered log: %v", err)
			}
		})
	}
}

// failingIO injects errors into the writer's write and fsync.
type failingIO struct {
	mu          sync.Mutex
	write, sync error
}

func (f *failingIO) install(l *Log) {
	l.writeFn = func(file *os.File, b []byte) (int, error) {
		f.mu.Lock()
		err := f.write
		f.mu.Unlock()
		if err != nil {
			n, _ := file.Write(b[:len(b)/2]) // a partial write, as a full disk leaves
			return n, err
		}
		return file.Write(b)
	}
	l.syncFn = func(file *os.File) error {
		f.mu.Lock()
		err := f.sync
		f.mu.Unlock()
		if err != nil {
			return err
		}
		return file.Sync()
	}
}

func (f *failingIO) set(write, sync error) {
	f.mu.Lock()
	f.write, f.sync = write, sync
	f.mu.Unlock()
}

func TestWriteFailureFailsClosedAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		write, sync error
	}{
		{"ENOSPC on write", syscall.ENOSPC, nil},
		{"EIO on fsync", nil, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, Options{})
			defer l.Close()
			var fio failingIO
			fio.install(l)
			if err := l.Append(context.Background(), ev("a")); err != nil {
				t.Fatal(err)
			}
			fio.set(tc.write, tc.sync)
			err := l.Append(context.Background(), ev("b"))
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("want ErrUnavailable, got %v", err)
			}
			if l.Healthy() == nil {
				t.Fatal("writer reports healthy after a failed write")
			}
			fio.set(nil, nil)
			if err := l.Append(context.Background(), ev("c")); err != nil {
				t.Fatalf("no recovery: %v", err)
			}
			if err := l.Healthy(); err != nil {
				t.Fatalf("still unhealthy after recovery: %v", err)
			}
			evs, _ := ReadFile(dir)
			if len(evs) != 2 || evs[1].Action != "c" || evs[1].Seq != 2 {
				t.Fatalf("failed entry must leave no trace: %+v", evs)
			}
			l.Close()
			mustVerify(t, dir, 2)
		})
	}
}

func TestStallFailsClosedThenCorrects(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{WriteTimeout: 200 * time.Millisecond})
	defer l.Close()
	if err := l.Append(context.Background(), ev("before")); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var stalling atomic.Bool
	stalling.Store(true)
	var releaseOnce sync.Once
	unstall := func() { stalling.Store(false); releaseOnce.Do(func() { close(release) }) }
	// Runs before the deferred Close (deferred later): a failed assertion
	// must end the stall, or Close would wait for the stuck write forever.
	defer unstall()
	l.syncFn = func(f *os.File) error {
		if stalling.Load() {
			<-release // a disk that stops answering
		}
		return f.Sync()
	}
	stalled := ev("stalled")
	stalled.RequestID = "req-stalled"
	if err := l.Append(context.Background(), stalled); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a stalled write must fail the append: %v", err)
	}
	// The append gives up WriteTimeout after it was made; the writer's
	// clock started when it took the entry, a little later (much later
	// under the race detector), so the stall shows once that write has
	// been stuck for WriteTimeout too. It must show while the disk hangs.
	healthy := l.Healthy()
	for wait := time.Now().Add(5 * time.Second); (healthy == nil || !strings.Contains(healthy.Error(), "stalled")) && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond)
		healthy = l.Healthy()
	}
	if healthy == nil || !strings.Contains(healthy.Error(), "stalled") {
		t.Fatalf("Healthy during a stall: %v", healthy)
	}
	// While stalled, appends fail at once rather than piling up.
	if err := l.Append(context.Background(), ev("during")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append during a stall: %v", err)
	}
	unstall()
	deadline := time.Now().Add(5 * time.Second)
	for l.Healthy() != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Append(context.Background(), ev("after")); err != nil {
		t.Fatalf("no recovery after the stall: %v", err)
	}
	l.Close()
	evs, _ := ReadFile(dir)
	var stalledSeq uint64
	corrected := false
	for _, e := range evs {
		if e.RequestID == "req-stalled" && e.Corrects == 0 {
			stalledSeq = e.Seq
		}
		if e.RequestID == "req-stalled" && e.Corrects != 0 && e.Corrects == stalledSeq && e.Status == 503 {
			corrected = true
		}
	}
	if stalledSeq == 0 || !corrected {
		t.Fatalf("the stalled entry landed late (seq %d) and must be corrected: %+v", stalledSeq, evs)
	}
	mustVerify(t, dir, uint64(len(evs)))
}

// Under random write and fsync failures and concurrent appends, every
// acknowledged append is in the log, and the log verifies.
func TestNoAcknowledgedAppendIsLost(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 300, CheckpointEvery: 100})
	var fio failingIO
	fio.install(l)
	stop := make(chan struct{})
	go func() {
		errs := []error{nil, nil, syscall.ENOSPC, syscall.EIO}
		for i := 0; ; i++ {
			select {
			case <-stop:
				fio.set(nil, nil)
				return
			case <-time.After(time.Millisecond):
			}
			e := errs[i%len(errs)]
			if i%2 == 0 {
				fio.set(e, nil)
			} else {
				fio.set(nil, e)
			}
		}
	}()
	var acked sync.Map
	var nAcked, nFailed atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				e := ev("x")
				e.RequestID = fmt.Sprintf("w%d-%d", w, i)
				if err := l.Append(context.Background(), e); err != nil {
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("error not ErrUnavailable: %v", err)
					}
					nFailed.Add(1)
					continue
				}
				acked.Store(e.RequestID, e.Seq)
				nAcked.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	l.Close()
	evs, err := ReadFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	inLog := map[string]uint64{}
	for _, e := range evs {
		if e.Corrects == 0 {
			inLog[e.RequestID] = e.Seq
		}
	}
	lost := 0
	acked.Range(func(k, v any) bool {
		if inLog[k.(string)] != v.(uint64) {
			lost++
		}
		return true
	})
	t.Logf("%d acknowledged, %d failed, %d entries in the log", nAcked.Load(), nFailed.Load(), len(evs))
	if lost != 0 {
		t.Fatalf("%d acknowledged appends are not in the log", lost)
	}
	if nFailed.Load() == 0 || nAcked.Load() == 0 {
		t.Fatalf("the injection must both fail and let through some appends")
	}
	mustVerify(t, dir, uint64(len(evs)))
}

func TestHMACFields(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "hmac.key")
	l := openLog(t, dir, Options{HMACFields: []string{"justification", "officer"}, HMACKeyFile: keyFile})
	e := ev("record.read")
	e.Justification, e.Officer = "OP-NIGHTJAR tasking 42", "pc-1234"
	if err := l.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	l.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if bytes.Contains(raw, []byte("NIGHTJAR")) || bytes.Contains(raw, []byte("pc-1234")) {
		t.Fatal("HMACed values are in clear in the log")
	}
	key, err := LoadHMACKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := ReadFile(dir)
	if evs[0].Justification != HMAC(key, "OP-NIGHTJAR tasking 42") || evs[0].Officer != HMAC(key, "pc-1234") ||
		strings.Join(evs[0].HMACFields, ",") != "justification,officer" {
		t.Fatalf("entry: %+v", evs[0])
	}
	f := Filter{Officer: "pc-1234", HMACKey: key}
	if !f.Match(&evs[0]) {
		t.Fatal("query with the key does not find the HMACed officer")
	}
	f.Officer = "pc-9999"
	if f.Match(&evs[0]) {
		t.Fatal("query matched another officer")
	}
	if _, err := Open(t.TempDir(), Options{HMACFields: []string{"record_ids"}, HMACKeyFile: keyFile}); err == nil {
		t.Fatal("a field that cannot be HMACed was accepted")
	}
}

func TestVerifyLiveToleratesAnAppendInProgress(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{CheckpointEvery: 2})
	for range 5 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Half an entry and half a checkpoint, as a reader can see mid-write.
	for _, name := range []string{segmentName(1), checkpointsFile} {
		f, _ := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(`{"seq":6,"ti`)
		f.Close()
	}
	jwks, _ := signer(t).PublicJWKS()
	r, err := Verify(dir, VerifyOptions{JWKS: jwks, Live: true})
	if err != nil || !r.OK || r.Entries != 5 || r.SignedSize != 4 {
		t.Fatalf("live verify: %v %+v", err, r.Failure)
	}
	if r, _ := Verify(dir, VerifyOptions{JWKS: jwks}); r.OK {
		t.Fatal("a torn tail must fail a verification that is not live")
	}
	if evs, err := ReadFile(dir); err != nil || len(evs) != 5 {
		t.Fatalf("ReadFile during an append: %d %v", len(evs), err)
	}
	l.Close()
}

func TestReopenResumesFromSealState(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Options{SegmentMaxEntries: 10, CheckpointEvery: 7})
	for range 35 {
		if err := l.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	states, _ := filepath.Glob(filepath.Join(dir, "*.state.json"))
	if len(states) != 3 {
		t.Fatalf("want a state file per sealed segment, got %v", states)
	}
	reopen := func(t *testing.T, want uint64, read int) {
		t.Helper()
		l := openLog(t, dir, Options{SegmentMaxEntries: 10, CheckpointEvery: 7})
		if l.Size() != want || l.readAtOpen != read {
			t.Fatalf("reopened at %d entries reading %d segments, want %d entries reading %d", l.Size(), l.readAtOpen, want, read)
		}
		if err := l.Append(context.Background(), ev("y")); err != nil {
			t.Fatal(err)
		}
		l.Close()
		mustVerify(t, dir, want+1)
	}
	t.Run("from the state", func(t *testing.T) { reopen(t, 35, 1) })
	t.Run("a state that does not match its checkpoint is ignored", func(t *testing.T) {
		p := filepath.Join(dir, "segment-000003.state.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte(`"range":["`), []byte(`"range":["00`), 1), 0o600)
		reopen(t, 36, 4)
	})
	t.Run("without states", func(t *testing.T) {
		for _, s := range states {
			os.Remove(s)
		}
		reopen(t, 37, 4)
	})
	t.Run("without states, an altered sealed segment is refused", func(t *testing.T) {
		p := filepath.Join(dir, segmentName(2))
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte(`"status":200`), []byte(`"status":201`), 1), 0o600)
		if _, err := Open(dir, Options{Signer: signer(t)}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: %v", err)
		}
	})
}
