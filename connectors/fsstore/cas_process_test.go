package fsstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/liaison-project/liaison/connectors/fsstore"
	"github.com/liaison-project/liaison/connectors/objstore/objstoretest"
)

// helperEnv names the store directory a child process of
// TestCrossProcessReadModifyWrite works on.
const helperEnv = "LIAISON_FSSTORE_CAS_HELPER_DIR"

const (
	casProcesses  = 3  // children, besides the test process itself
	casGoroutines = 4  // per process
	casIncrements = 15 // per goroutine
)

// incrementMany runs casGoroutines goroutines each incrementing key
// casIncrements times on a store of its own opened on dir.
func incrementMany(ctx context.Context, dir, key string) (conflicts int, err error) {
	s, err := fsstore.Open(dir)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for range casGoroutines {
		wg.Go(func() {
			for range casIncrements {
				c, ierr := objstoretest.Increment(ctx, s, key)
				mu.Lock()
				conflicts += c
				if ierr != nil && err == nil {
					err = ierr
				}
				mu.Unlock()
				if ierr != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return conflicts, err
}

// TestCrossProcessReadModifyWrite: several processes on one store
// directory (as replicas on one host would be) increment one counter by
// compare-and-swap; no increment is lost. The children are this test
// binary, re-run with helperEnv set.
func TestCrossProcessReadModifyWrite(t *testing.T) {
	if dir := os.Getenv(helperEnv); dir != "" {
		c, err := incrementMany(context.Background(), dir, "counter")
		if err != nil {
			fmt.Println("helper error:", err)
			os.Exit(1)
		}
		fmt.Println("conflicts", c)
		return
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range casProcesses {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrossProcessReadModifyWrite$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		cmds = append(cmds, cmd)
	}
	outs := make([][]byte, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	own, err := incrementMany(t.Context(), dir, "counter")
	wg.Wait()
	if err != nil {
		t.Fatalf("test process: %v", err)
	}
	for i := range cmds {
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], outs[i])
		}
		t.Logf("child %d: %s", i, firstLine(outs[i]))
	}
	s := open(t, dir)
	got, err := s.Get(t.Context(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	want := (casProcesses + 1) * casGoroutines * casIncrements
	if string(got) != strconv.Itoa(want) {
		t.Fatalf("counter = %s, want %d: updates lost across processes", got, want)
	}
	t.Logf("%d increments by %d processes, %d conflicts in this one", want, casProcesses+1, own)
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' {
			return string(b[:i])
		}
	}
	return string(b)
}
