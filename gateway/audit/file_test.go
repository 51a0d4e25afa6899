package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func ev(action string) *Event {
	return &Event{Time: Now(), Gateway: "gw", RequestID: "r", Operation: OpConsultation, Action: action, Status: 200, Agency: "met-police"}
}

func TestAppendChainsAndSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Append(context.Background(), ev("record.read")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	w.Close()
	n, err := VerifyFile(path)
	if err != nil || n != 200 {
		t.Fatalf("verify: n=%d err=%v", n, err)
	}
	w, err = OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(context.Background(), ev("record.list")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	evs, err := ReadFile(path)
	if err != nil || len(evs) != 201 || evs[200].Seq != 201 || evs[200].Prev != evs[199].Hash {
		t.Fatalf("reopen did not continue the chain: %d entries, err %v", len(evs), err)
	}
}

func TestTornTailIsCutOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, _ := OpenFile(path)
	for i := 0; i < 3; i++ {
		if err := w.Append(context.Background(), ev("x")); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":4,"time":"20`) // a crash mid-append: never acknowledged
	f.Close()
	if _, err := VerifyFile(path); err == nil {
		t.Fatal("verify accepted a torn tail")
	}
	w, err := OpenFile(path)
	if err != nil {
		t.Fatalf("open with torn tail: %v", err)
	}
	if err := w.Append(context.Background(), ev("y")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if n, err := VerifyFile(path); err != nil || n != 4 {
		t.Fatalf("after recovery n=%d err=%v", n, err)
	}
}

func TestTamperDetected(t *testing.T) {
	mk := func(t *testing.T) (string, []byte) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		w, _ := OpenFile(path)
		for i := 0; i < 5; i++ {
			w.Append(context.Background(), ev("record.read"))
		}
		w.Close()
		b, _ := os.ReadFile(path)
		return path, b
	}
	tests := map[string]func([]byte) []byte{
		"edit a field": func(b []byte) []byte { return bytes.Replace(b, []byte(`"status":200`), []byte(`"status":201`), 1) },
		"delete an entry": func(b []byte) []byte {
			lines := bytes.SplitAfter(b, []byte("\n"))
			return bytes.Join(append(lines[:1:1], lines[2:]...), nil)
		},
		"swap entries": func(b []byte) []byte {
			lines := bytes.SplitAfter(b, []byte("\n"))
			lines[1], lines[2] = lines[2], lines[1]
			return bytes.Join(lines, nil)
		},
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			path, b := mk(t)
			os.WriteFile(path, mutate(b), 0o600)
			if _, err := VerifyFile(path); err == nil {
				t.Fatal("tampering not detected")
			}
			if _, err := OpenFile(path); err == nil {
				t.Fatal("OpenFile accepted an altered log")
			}
		})
	}
}

func TestWriteFailureFailsClosedAndRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	w, _ := OpenFile(path)
	defer w.Close()
	if err := w.Append(context.Background(), ev("a")); err != nil {
		t.Fatal(err)
	}
	var fail sync.Mutex
	failing := true
	w.syncFn = func(f *os.File) error {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return errors.New("injected EIO")
		}
		return f.Sync()
	}
	if err := w.Append(context.Background(), ev("b")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	if w.Healthy() == nil {
		t.Fatal("writer reports healthy after a failed write")
	}
	fail.Lock()
	failing = false
	fail.Unlock()
	if err := w.Append(context.Background(), ev("c")); err != nil {
		t.Fatalf("no recovery: %v", err)
	}
	if w.Healthy() != nil {
		t.Fatal("still unhealthy after recovery")
	}
	evs, _ := ReadFile(path)
	if len(evs) != 2 || evs[1].Action != "c" || evs[1].Seq != 2 {
		t.Fatalf("failed entry must leave no trace: %+v", evs)
	}
	if n, err := VerifyFile(path); err != nil || n != 2 {
		t.Fatalf("verify n=%d err=%v", n, err)
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	w, _ := OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"))
	defer w.Close()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Append(context.Background(), ev("record.read")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
