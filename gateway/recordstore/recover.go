package recordstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
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
//     its index entry is written again from the stored record.
//   - a publish with a correcting entry is not re-indexed; an object left by
//     its interrupted undo is deleted (unless a later, uncorrected publish
//     of the same id, an idempotent retry, completed it).
//   - a share or consent approval (disclosure 200), a recall (erasure 200)
//     and a copy accepted from a peer gateway (federation.accept, collection
//     201, or 200 for a copy a re-send found already stored) write the
//     record's entry again from the record as stored: a share that did not
//     complete did not change the stored recipients, so the entry is what
//     the store says.
//
// Entries are upserts keyed by record id and guarded by version, so writing
// one again is harmless and a record is never listed twice. It returns how
// many records it re-indexed and how many publishes it corrected.
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
	touched := map[string]bool{} // record ids whose index entry may be behind
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
			touched[ev.RecordIDs[0]] = true
		case ev.Operation == audit.OpErasure && ev.Status == 200:
			touched[ev.RecordIDs[0]] = true
		case ev.Operation == audit.OpAlteration && ev.Action == string(policy.ActionReview) && ev.Status == 200:
			// A retain: the entry's review date may be the old one.
			touched[ev.RecordIDs[0]] = true
		case ev.Operation == audit.OpCollection && ev.Action == string(policy.ActionAccept) && (ev.Status == 201 || ev.Status == 200):
			// A copy accepted from a peer gateway (201), or found already
			// stored when the peer re-sent it (200): its recipients'
			// entries may have been pending when the process died.
			touched[ev.RecordIDs[0]] = true
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
	// Finish undos the crash interrupted (never reachable: no index entry,
	// id given out in no 201), and correct publishes whose object is absent.
	for _, ev := range publishes {
		id := ev.RecordIDs[0]
		if correctedSeq[ev.Seq] {
			if !stands[id] {
				if err := ix.rs.store.Delete(ctx, recordKey(id)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
					return 0, 0, fmt.Errorf("index recovery: remove the object of a failed publish: %w", err)
				}
			}
			continue
		}
		touched[id] = true
	}
	ids := slices.Sorted(maps.Keys(touched))
	loaded := make([]*Record, len(ids))
	absent := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(recoverConc)
	for i, id := range ids {
		g.Go(func() error {
			st, err := ix.rs.Load(gctx, id)
			switch {
			case errors.Is(err, ErrNotFound):
				absent[i] = true
			case errors.Is(err, ErrTampered):
				// Counted and logged by Load; never indexed.
				ix.log.Error("record failed integrity check during index recovery", zap.String("record_id", id), zap.Error(err))
			case err != nil:
				return fmt.Errorf("check record %s: %w", id, err)
			default:
				loaded[i] = st
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, fmt.Errorf("index recovery: %w", err)
	}
	for _, ev := range publishes {
		if correctedSeq[ev.Seq] {
			continue
		}
		if i, ok := slices.BinarySearch(ids, ev.RecordIDs[0]); ok && absent[i] {
			if err := appendCorrection(ctx, aw, ev, gatewayID, ix.now()); err != nil {
				return 0, 0, fmt.Errorf("index recovery: correct the audit entry of publish %s: %w", ev.RecordIDs[0], err)
			}
			corrected++
		}
	}
	// Entries are upserts of the record as stored now (its version decides),
	// so an entry written before the crash is simply written again.
	for _, st := range loaded {
		if st == nil {
			continue
		}
		if err := ix.Put(ctx, st); err != nil {
			return 0, 0, fmt.Errorf("index recovery: %w", err)
		}
		indexed++
	}
	return indexed, corrected, writeIndexState(dir, indexState{Through: st.Through})
}

// recoverConc bounds the record loads recovery runs at once.
const recoverConc = 8

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
		mu.Lock()
		defer mu.Unlock()
		saved = time.Now().Add(time.Hour) // nothing after this may overwrite the clean state
		return writeIndexState(dir, indexState{Through: ix.now(), Clean: true})
	}
	return indexed, corrected, shutdown, nil
}
