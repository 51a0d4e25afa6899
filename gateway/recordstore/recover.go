package recordstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
)

// indexState is the listing index's recovery point, kept in the audit log
// directory of this gateway node: every index entry added before Through
// is in the store; Clean says the gateway stopped after writing all of them.
type indexState struct {
	Through time.Time `json:"flushed_through"`
	Clean   bool      `json:"clean"`
}

const indexStateFile = "index-state.json"

func readIndexState(dir string) (indexState, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return indexState{}, false, nil
	}
	if err != nil {
		return indexState{}, false, err
	}
	var st indexState
	if err := json.Unmarshal(b, &st); err != nil {
		// Unreadable state: recover from the whole log rather than guess.
		return indexState{}, false, nil
	}
	return st, true, nil
}

// writeIndexState replaces the state file atomically.
func writeIndexState(dir string, st indexState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, indexStateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, indexStateFile))
}

// recoverFromAudit settles what a crash may have left half done, before
// the gateway serves. It reads the audit log (the journal: a publish's
// collection entry is durable before anything else makes the record
// reachable) from the recovery point less slack (an entry's audit time
// precedes its index add by up to the audit write deadline) and:
//
//   - a publish (collection 201) with no correcting entry whose record
//     object is absent did not complete: the gateway stopped between the
//     audit append and the object PUT, or the publish failed and was
//     undone but its correction was never written. A correcting entry is
//     appended (Corrects = its seq) and the record is not indexed.
//   - a publish with no correcting entry whose record object is present
//     completed (the commit point is both durable; see docs/architecture.md):
//     its index entries are re-added.
//   - a publish with a correcting entry is not re-indexed; an object left by
//     its interrupted undo is deleted (unless a later, uncorrected publish
//     of the same id, an idempotent retry, completed it).
//   - a share or consent approval (disclosure 200) re-adds its recipients'
//     entries: they are candidates only; a share that did not complete did
//     not change the stored recipients, so the policy refuses them.
//   - a copy accepted from a peer gateway (federation.accept, collection
//     201, or 200 for a copy a re-send found already stored) re-adds its
//     recipients' entries likewise.
//
// An entry already written since the window began is not written again
// (writtenSince), so a record is not listed on two pages. It returns how many records it re-indexed and how many
// publishes it corrected.
func (ix *Index) recoverFromAudit(ctx context.Context, dir string, slack time.Duration, aw audit.Writer, gatewayID string) (indexed, corrected int, err error) {
	st, ok, err := readIndexState(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("index state: %w", err)
	}
	if ok && st.Clean {
		return 0, 0, writeIndexState(dir, indexState{Through: st.Through})
	}
	var since time.Time
	if ok {
		since = st.Through.Add(-slack)
	}
	var publishes []*audit.Event
	correctedSeq := map[uint64]bool{}
	shares := map[string][]string{} // record id → new readers
	err = audit.Scan(dir, func(ev *audit.Event, _ []byte) error {
		if ev.Corrects != 0 {
			correctedSeq[ev.Corrects] = true
			return nil
		}
		if ev.Time.Before(since) || len(ev.RecordIDs) != 1 || !record.ValidID(ev.RecordIDs[0]) {
			return nil
		}
		switch {
		case ev.Operation == audit.OpCollection && ev.Action == string(policy.ActionPublish) && ev.Status == 201:
			publishes = append(publishes, ev)
		case ev.Operation == audit.OpDisclosure && (ev.Action == string(policy.ActionShare) || ev.Action == "consent.approve" || ev.Action == "request.answer") && ev.Status == 200:
			// A share, directly, on a consent's approval, or as the answer to a
			// request for information: the same share path (httpapi executeShare).
			shares[ev.RecordIDs[0]] = append(shares[ev.RecordIDs[0]], ev.Recipients...)
		case ev.Operation == audit.OpCollection && ev.Action == string(policy.ActionAccept) && (ev.Status == 201 || ev.Status == 200):
			// A copy accepted from a peer gateway (201), or found already
			// stored when the peer re-sent it (200): its recipients'
			// entries may have been pending when the process died.
			shares[ev.RecordIDs[0]] = append(shares[ev.RecordIDs[0]], ev.Recipients...)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("index recovery: read the audit log: %w", err)
	}

	// A record id whose publish stands (some entry for it is uncorrected).
	stands := map[string]bool{}
	for _, ev := range publishes {
		if !correctedSeq[ev.Seq] {
			stands[ev.RecordIDs[0]] = true
		}
	}
	present := make([]bool, len(publishes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(indexReadConc)
	for i, ev := range publishes {
		id := ev.RecordIDs[0]
		g.Go(func() error {
			if correctedSeq[ev.Seq] {
				if !stands[id] {
					// Finish an undo the crash interrupted (never reachable:
					// no index entry, id given out in no 201).
					if err := ix.store.Delete(gctx, recordKey(id)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
						return fmt.Errorf("remove the object of a failed publish: %w", err)
					}
				}
				return nil
			}
			_, err := ix.store.Get(gctx, recordKey(id))
			switch {
			case err == nil:
				present[i] = true
			case !errors.Is(err, objstore.ErrNotFound):
				return fmt.Errorf("check record %s: %w", id, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, fmt.Errorf("index recovery: %w", err)
	}
	readers := map[string][]string{} // record id → agencies to re-add
	for i, ev := range publishes {
		if correctedSeq[ev.Seq] {
			continue
		}
		if !present[i] {
			if err := appendCorrection(ctx, aw, ev, gatewayID, ix.now()); err != nil {
				return 0, 0, fmt.Errorf("index recovery: correct the audit entry of publish %s: %w", ev.RecordIDs[0], err)
			}
			corrected++
			continue
		}
		readers[ev.RecordIDs[0]] = append(readers[ev.RecordIDs[0]], append([]string{ev.Originator}, ev.Recipients...)...)
	}
	for id, rs := range shares {
		readers[id] = append(readers[id], rs...)
	}
	// Entries written before the crash are not written again: a listing
	// pages through batches, and an id in two batches would be listed on
	// two pages. Only the batches written since the window began can hold
	// them (batch names sort by time), so only those are read.
	written, err := ix.writtenSince(ctx, readers, since.Add(-slack))
	if err != nil {
		return 0, 0, fmt.Errorf("index recovery: %w", err)
	}
	for id, rs := range readers {
		var missing []string
		for _, a := range rs {
			if a != "" && !written[a][id] && !slices.Contains(missing, a) {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			ix.addPending(id, missing)
			indexed++
		}
	}
	if err := ix.Flush(ctx); err != nil {
		return 0, 0, fmt.Errorf("index recovery: %w", err)
	}
	return indexed, corrected, writeIndexState(dir, indexState{Through: st.Through})
}

// writtenSince reads, for each agency among readers, the index batches
// written since t (by batch name, which starts with its time), and returns
// the ids they hold by agency. With no recovery point (t zero: the whole
// log is being replayed) it reads nothing, and entries may be written
// twice, as before.
func (ix *Index) writtenSince(ctx context.Context, readers map[string][]string, t time.Time) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	if t.IsZero() || t.Unix() <= 0 {
		return out, nil
	}
	agencies := map[string]bool{}
	for _, rs := range readers {
		for _, a := range rs {
			if a != "" {
				agencies[a] = true
			}
		}
	}
	after := fmt.Sprintf("%013d", t.UnixMilli())
	for a := range agencies {
		prefix := indexAgencyPrefix(a)
		keys, err := listAllKeys(ctx, ix.store, prefix, prefix+after)
		if err != nil {
			return nil, err
		}
		ids := map[string]bool{}
		for _, k := range keys {
			b, err := ix.readBatch(ctx, k)
			if errors.Is(err, objstore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, id := range b {
				ids[id] = true
			}
		}
		out[a] = ids
	}
	return out, nil
}

// listAllKeys lists every key under prefix after startAfter, in order.
func listAllKeys(ctx context.Context, store objstore.Store, prefix, startAfter string) ([]string, error) {
	var out []string
	for {
		keys, err := store.List(ctx, prefix, startAfter, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if len(keys) < 1000 {
			return out, nil
		}
		startAfter = keys[len(keys)-1]
	}
}

// addPending queues index entries without waiting for them (recovery
// flushes once at the end).
func (ix *Index) addPending(id string, readers []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, a := range readers {
		if a != "" {
			ix.pending[a] = append(ix.pending[a], id)
		}
	}
}

// appendCorrection writes the entry that says the publish orig recorded did
// not complete. It names the record and the request, and nothing the audit
// log may keep as an HMAC (those fields of orig may already be HMACs).
func appendCorrection(ctx context.Context, aw audit.Writer, orig *audit.Event, gatewayID string, now time.Time) error {
	ev := &audit.Event{
		Time: now.UTC(), Gateway: gatewayID, RequestID: orig.RequestID,
		Operation: orig.Operation, Action: orig.Action, Method: orig.Method, Route: orig.Route,
		Status: http.StatusServiceUnavailable, Agency: orig.Agency, CertFingerprint: orig.CertFingerprint,
		RecordIDs: orig.RecordIDs, Originator: orig.Originator, DSAIDs: orig.DSAIDs, Corrects: orig.Seq,
		Error: "not completed: the gateway stopped before the record object was stored (found absent at recovery); the publish was never acknowledged",
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return aw.Append(actx, ev)
}

// Recover makes the index crash-safe for this gateway node: it keeps the
// recovery point in dir (the node's audit log directory), saved at most
// once a second after successful writes (stateFailed is told when a save
// fails), re-adds what a crash may have lost before the gateway serves
// (recoverFromAudit, reading slack before the saved point), and returns
// the shutdown step: write what is pending and mark the state clean.
func (ix *Index) Recover(ctx context.Context, dir string, slack time.Duration, aw audit.Writer, gatewayID string,
	stateFailed func(error)) (indexed, corrected int, shutdown func() error, err error) {
	// Saved at most once a second: recovery re-reads slack of the audit log
	// before the saved point anyway, so a fresher point buys nothing.
	// mu: the writer saves progress while shutdown may save the clean state.
	var mu sync.Mutex
	var saved time.Time
	ix.onFlushed = func(through time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(saved) < time.Second {
			return
		}
		saved = time.Now()
		if err := writeIndexState(dir, indexState{Through: through}); err != nil && stateFailed != nil {
			stateFailed(err)
		}
	}
	indexed, corrected, err = ix.recoverFromAudit(ctx, dir, slack, aw, gatewayID)
	if err != nil {
		return 0, 0, nil, err
	}
	shutdown = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ix.Flush(ctx); err != nil {
			return fmt.Errorf("listing index: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		saved = time.Now().Add(time.Hour) // nothing after this may overwrite the clean state
		return writeIndexState(dir, indexState{Through: ix.now(), Clean: true})
	}
	return indexed, corrected, shutdown, nil
}
