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
	"strings"
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
//   - a recall (DELETE, or a review's dispose: erasure 200, audited before
//     its tombstone is stored) with no correcting entry whose record is
//     still active did not complete: the gateway stopped between the audit
//     append and the tombstone, or a backup copied the record before the
//     tombstone and the log after the entry. The log says the record was
//     recalled, so serving it would disclose a recalled record: an entry
//     saying recovery completes it is appended, then the tombstone stored
//     (completeRecall). A recall is never undone instead, because the
//     caller may have been told it succeeded (the backup case: it had).
//   - a share or consent approval (disclosure 200), a recall (erasure 200)
//     and a copy accepted from a peer gateway (federation.accept, collection
//     201, or 200 for a copy a re-send found already stored) write the
//     record's entry again from the record as stored: a share that did not
//     complete did not change the stored recipients, so the entry is what
//     the store says.
//
// Entries are upserts keyed by record id and guarded by version, so writing
// one again is harmless and a record is never listed twice.
func (ix *Index) recoverFromAudit(ctx context.Context, dir string, slack time.Duration, aw audit.Writer, gatewayID string) (r Recovered, err error) {
	st, ok, err := readIndexState(dir)
	if err != nil {
		return r, fmt.Errorf("index state: %w", err)
	}
	if ok && st.Clean {
		return r, writeIndexState(dir, indexState{Through: st.Through})
	}
	var since time.Time
	if ok {
		since = st.Through.Add(-slack)
	}
	var publishes, recalls []*audit.Event
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
			if auditedBeforeTombstone(ev) {
				recalls = append(recalls, ev)
			}
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
		return r, fmt.Errorf("index recovery: read the audit log: %w", err)
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
					return r, fmt.Errorf("index recovery: remove the object of a failed publish: %w", err)
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
		return r, fmt.Errorf("index recovery: %w", err)
	}
	for _, ev := range publishes {
		if correctedSeq[ev.Seq] {
			continue
		}
		if i, ok := slices.BinarySearch(ids, ev.RecordIDs[0]); ok && absent[i] {
			if err := appendCorrection(ctx, aw, ev, gatewayID, ix.now()); err != nil {
				return r, fmt.Errorf("index recovery: correct the audit entry of publish %s: %w", ev.RecordIDs[0], err)
			}
			r.Corrected++
		}
	}
	// Recalls the log records and the store does not show. The last
	// uncorrected entry of a record is the one completed (a recall that lost
	// to a concurrent change was corrected and retried under a new entry).
	pending := map[string]*audit.Event{}
	for _, ev := range recalls {
		if !correctedSeq[ev.Seq] {
			pending[ev.RecordIDs[0]] = ev
		}
	}
	for i, id := range ids {
		ev := pending[id]
		if ev == nil || loaded[i] == nil || loaded[i].State != StateActive {
			// No recall pending, the record absent or failing its integrity
			// check (never served), or its tombstone stored: nothing to do.
			continue
		}
		tomb, err := ix.completeRecall(ctx, aw, ev, loaded[i], gatewayID)
		if err != nil {
			return r, fmt.Errorf("index recovery: complete the recall of record %s (audit entry %d): %w", id, ev.Seq, err)
		}
		loaded[i] = tomb
		r.Recalled = append(r.Recalled, tomb)
	}
	// Entries are upserts of the record as stored now (its version decides),
	// so an entry written before the crash is simply written again.
	for _, st := range loaded {
		if st == nil {
			continue
		}
		if err := ix.Put(ctx, st); err != nil {
			return r, fmt.Errorf("index recovery: %w", err)
		}
		r.Indexed++
	}
	return r, writeIndexState(dir, indexState{Through: st.Through})
}

// Recovered is what start-up recovery did.
type Recovered struct {
	// Indexed counts the index entries written again from the store.
	Indexed int
	// Corrected counts the publishes found never stored and corrected.
	Corrected int
	// Recalled are the records whose audited recall recovery completed,
	// as tombstones: the caller tells the gateways a copy went to, which
	// the interrupted recall never did.
	Recalled []*Record
}

// auditedBeforeTombstone reports whether ev is the erasure entry of a
// recall that is audited before its tombstone is stored (DELETE, and a
// review's dispose; httpapi recallRecord), so that a record still active
// behind it is a recall left half done. A recall received from a peer
// gateway (federation.recall) is audited after it is applied, and may
// concern a record not held here that a later share from the originator's
// gateway legitimately stores: never re-applied. Key shreds and
// destructions are audited in the custody log, not here.
func auditedBeforeTombstone(ev *audit.Event) bool {
	return ev.Action == string(policy.ActionRecall) || ev.Action == string(policy.ActionReview) && ev.Review != nil
}

// recallAttempts bounds the retries of a recovery recall that loses to a
// concurrent change (another replica sharing the record meanwhile).
const recallAttempts = 5

// completeRecall finishes the recall orig recorded on the active record st:
// first an entry saying recovery completes it (the log says what is about
// to change before it changes, as for every request), then the tombstone.
// The tombstone carries the recall's own time and agency. If the tombstone
// cannot be stored, the entry is corrected and the error returned: the
// gateway must not serve a record its log says is recalled.
func (ix *Index) completeRecall(ctx context.Context, aw audit.Writer, orig *audit.Event, st *Record, gatewayID string) (*Record, error) {
	ev := &audit.Event{
		Time: ix.now().UTC(), Gateway: gatewayID, RequestID: orig.RequestID,
		Operation: audit.OpErasure, Action: orig.Action, Method: orig.Method, Route: orig.Route,
		Status: http.StatusOK, Agency: orig.Agency, CertFingerprint: orig.CertFingerprint,
		RecordIDs: orig.RecordIDs, Originator: orig.Originator, ControllerID: orig.ControllerID, DSAIDs: orig.DSAIDs,
		Error: fmt.Sprintf("completed at recovery: the recall of entry %d was audited but its tombstone was not stored "+
			"(the gateway stopped between the two, or a backup copied the record before the tombstone); the record is recalled now", orig.Seq),
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := aw.Append(actx, ev); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	// The officer field may be stored as an HMAC in the log: the tombstone
	// then names the agency only, never an HMAC as if it were an officer.
	officer := orig.Officer
	if strings.HasPrefix(officer, audit.HMACPrefix) {
		officer = ""
	}
	var err error
	for range recallAttempts {
		if err = ix.rs.Recall(ctx, st, orig.Agency, officer, orig.Time); !errors.Is(err, objstore.ErrConflict) {
			break
		}
		// Changed meanwhile (a share on another replica): recall what is
		// there now, unless it is a tombstone already.
		cur, lerr := ix.rs.Load(ctx, st.Meta.RecordID)
		if lerr != nil {
			err = lerr
			break
		}
		if st = cur; st.State != StateActive {
			return st, nil
		}
	}
	if err != nil {
		fix := &audit.Event{
			Time: ix.now().UTC(), Gateway: gatewayID, RequestID: orig.RequestID, Operation: audit.OpErasure, Action: orig.Action,
			Status: http.StatusServiceUnavailable, Agency: orig.Agency, RecordIDs: orig.RecordIDs, Originator: orig.Originator,
			Corrects: ev.Seq, Error: "not completed: " + err.Error(),
		}
		if aerr := aw.Append(context.WithoutCancel(actx), fix); aerr != nil {
			ix.log.Error("audit correction of a recovery recall failed", zap.String("record_id", st.Meta.RecordID), zap.Error(aerr))
		}
		return nil, err
	}
	tomb := *st
	tomb.State, tomb.Content, tomb.sealed, tomb.Selectors, tomb.Meta.Selectors = StateRecalled, nil, nil, nil, nil
	return &tomb, nil
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
	stateFailed func(error)) (r Recovered, shutdown func() error, err error) {
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
	r, err = ix.recoverFromAudit(ctx, dir, slack, aw, gatewayID)
	if err != nil {
		return r, nil, err
	}
	shutdown = func() error {
		mu.Lock()
		defer mu.Unlock()
		saved = time.Now().Add(time.Hour) // nothing after this may overwrite the clean state
		return writeIndexState(dir, indexState{Through: ix.now(), Clean: true})
	}
	return r, shutdown, nil
}
