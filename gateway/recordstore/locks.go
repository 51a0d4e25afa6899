package recordstore

import "sync"

// Lock serialises changes to one record within this process and returns
// its unlock. Every path that changes a record — a share, a recall, a
// consent's execution from the agency API, and a peer gateway's share or
// recall from the federation API — takes the same lock, so a recall
// arriving from a peer cannot be overwritten by an onward share made here
// at the same moment. (Replicas of a gateway do not share it: the store's
// conditional writes are the cross-process guard.)
func (rs *Store) Lock(id string) func() {
	rs.locks.mu.Lock()
	if rs.locks.m == nil {
		rs.locks.m = map[string]*lockEntry{}
	}
	e := rs.locks.m[id]
	if e == nil {
		e = &lockEntry{}
		rs.locks.m[id] = e
	}
	e.refs++
	rs.locks.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		rs.locks.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(rs.locks.m, id)
		}
		rs.locks.mu.Unlock()
	}
}

// recordLocks is a set of mutexes by record id, created on demand and
// dropped when free.
type recordLocks struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	mu   sync.Mutex
	refs int
}
