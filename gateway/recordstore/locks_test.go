package recordstore

import (
	"testing"
	"time"
)

// One lock per record id, whoever takes it (the agency API and the
// federation API share the Store): a second Lock of the same id waits for
// the first's unlock; another id does not; free entries are dropped.
func TestLockSerialisesOneRecord(t *testing.T) {
	rs := &Store{}
	unlock := rs.Lock("rec_a")
	got := make(chan struct{})
	go func() {
		u := rs.Lock("rec_a")
		close(got)
		u()
	}()
	other := rs.Lock("rec_b") // another record is not held up
	other()
	select {
	case <-got:
		t.Fatal("a second Lock of the same record did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	unlock()
	<-got
	rs.locks.mu.Lock()
	n := len(rs.locks.m)
	rs.locks.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
}
