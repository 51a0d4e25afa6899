package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OpRecovery is the operation of the entry `liaison audit recover` writes
// when it cuts a damaged tail off a log.
const OpRecovery = "recovery"

// recoveriesFile lists every recovery run on the directory, one JSON line
// each, so that verification can explain the gap it left. The entry each
// recovery appends to the log says the same under the log's signature.
const recoveriesFile = "recoveries.jsonl"

// damagedPrefix names evidence files: never a segment, so neither the
// writer nor the verifier nor the shipper take them for part of the log.
const damagedPrefix = "damaged-"

// Evidence is a file a recovery moved out of the log, kept unchanged.
type Evidence struct {
	File   string `json:"file"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Present is filled by Verify: the file is still there with that digest.
	Present bool `json:"present"`
}

// Recovery is what one `liaison audit recover` did.
type Recovery struct {
	Time    time.Time `json:"time"`
	Gateway string    `json:"gateway,omitempty"`
	// Failure is what verification found before the recovery.
	Failure Failure `json:"failure"`
	// KeptEntries is how many entries were kept (seq 1..KeptEntries); the
	// entries from KeptEntries+1 on, as they were, are in Evidence.
	KeptEntries uint64 `json:"kept_entries"`
	// RemovedSegments are whole segments moved out (after the cut).
	RemovedSegments []string `json:"removed_segments,omitempty"`
	// CheckpointsMoved are checkpoints signed over entries that were cut
	// (or that did not verify), moved out of the checkpoints file.
	CheckpointsMoved int        `json:"checkpoints_moved"`
	Evidence         []Evidence `json:"evidence"`
	// NewSegment is the segment started after the cut; its first entry
	// (Seq) is the recovery entry.
	NewSegment string `json:"new_segment"`
	Seq        uint64 `json:"seq"`
	Note       string `json:"note,omitempty"`
}

// Explain says in one sentence what the recovery did.
func (r *Recovery) Explain() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recovered at %s: verification had failed (%s); entries after seq %d were moved out of the log",
		r.Time.Format(time.RFC3339), r.Failure.Error(), r.KeptEntries)
	if r.CheckpointsMoved > 0 {
		fmt.Fprintf(&b, ", with %d checkpoint(s) signed over them", r.CheckpointsMoved)
	}
	var files []string
	for _, e := range r.Evidence {
		s := e.File
		if !e.Present {
			s += " (MISSING OR CHANGED)"
		}
		files = append(files, s)
	}
	fmt.Fprintf(&b, "; kept as evidence in %s; the log continues in %s with the recovery entry (seq %d)",
		strings.Join(files, ", "), r.NewSegment, r.Seq)
	return b.String()
}

// RecoverOptions configure Recover.
type RecoverOptions struct {
	// JWKS pins the checkpoint keys for the verification that finds the
	// damage (as VerifyOptions.JWKS).
	JWKS []byte
	// Log is how the log is reopened to write the recovery entry and sign
	// a checkpoint over it: the gateway's audit options (its audit key).
	Log Options
	// Note is the operator's reason, kept in the record and the entry.
	Note string
	// DryRun reports what would be done and changes nothing.
	DryRun bool
}

// Recover repairs a log that no longer verifies because its tail is
// damaged — a torn tail that open could not cut safely, entries written by
// a second process over acknowledged ones, entries or checkpoints that do
// not match. Nothing is deleted: from the first entry that fails, every
// byte of the log (and every checkpoint signed over those entries) is
// moved into damaged-* files beside it, the gap is recorded in
// recoveries.jsonl, a new segment is started and its first entry, signed
// by a fresh checkpoint, says what was done. Verify then passes and
// reports the recovery. It takes the directory's lock, so it cannot run
// while a gateway writes the log. It returns nil when the log verifies
// and there is nothing to do.
func Recover(dir string, opts RecoverOptions) ([]Recovery, error) {
	dir = LogDir(dir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	var done []Recovery
	// Each round handles the first failure; a second problem further on
	// (rare) gets its own round and its own record.
	for round := 0; ; round++ {
		rep, err := Verify(dir, VerifyOptions{JWKS: opts.JWKS})
		if err != nil {
			return done, err
		}
		if rep.OK {
			return done, nil
		}
		if round == 8 {
			return done, fmt.Errorf("audit: still failing after %d recoveries: %v", round, rep.Failure)
		}
		rec, cp, err := planRecovery(dir, rep)
		if err != nil {
			return done, err
		}
		rec.Note = opts.Note
		now := opts.Log.Now
		if now == nil {
			now = time.Now
		}
		rec.Time = now().UTC().Truncate(time.Second)
		if opts.DryRun {
			return append(done, *rec), nil
		}
		if err := applyRecovery(dir, rec, cp, opts); err != nil {
			return done, err
		}
		done = append(done, *rec)
	}
}

// cutPoint is where planRecovery found the log must be cut.
type cutPoint struct {
	seg    segFile
	off    int64
	after  []segFile // whole segments after the cut
	cpKeep int       // checkpoint lines kept (a prefix)
	cpAll  int
}

func planRecovery(dir string, rep *Report) (*Recovery, *cutPoint, error) {
	f := rep.Failure
	if f.Kind == FailCheckpoint && (strings.HasPrefix(f.Reason, "not a validly signed") || strings.HasPrefix(f.Reason, "no public key")) {
		// A wrong or missing key set makes every checkpoint look bad:
		// moving them out would strip the log of its signatures. That is
		// not a damaged tail; the operator must sort out the keys first.
		return nil, nil, fmt.Errorf("audit: %v: recover does not move out checkpoints it cannot check; pin the gateway's audit key set with --jwks (or restore %s) and verify again", f, keysFile)
	}
	rec := &Recovery{Failure: *f, Gateway: rep.Gateway}
	// The first entry to move out: the failing one; for a checkpoint
	// failure, none (only checkpoints move), unless checkpoints are
	// the only thing wrong after the entries end.
	cut := f.Seq
	if f.Kind == FailCheckpoint || cut == 0 || cut > rep.Entries+1 {
		cut = rep.Entries + 1
	}
	if f.Kind == FailMismatch || f.Kind == FailEntry || f.Kind == FailMissing {
		cut = min(f.Seq, rep.Entries+1)
	}
	rec.KeptEntries = cut - 1
	segs, err := listSegments(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	if len(segs) == 0 {
		return nil, nil, errors.New("audit: no segments to recover")
	}
	cp := &cutPoint{}
	// Find where entry `cut` starts: after cut-1 complete lines.
	need := rec.KeptEntries
	found := false
	for i, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return nil, nil, fmt.Errorf("audit: %w", err)
		}
		off := 0
		for need > 0 {
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				break
			}
			off += nl + 1
			need--
		}
		if need == 0 {
			cp.seg, cp.off, cp.after = s, int64(off), segs[i+1:]
			found = true
			break
		}
	}
	if !found {
		return nil, nil, fmt.Errorf("audit: cannot locate entry %d in the segments", cut)
	}
	for _, s := range cp.after {
		rec.RemovedSegments = append(rec.RemovedSegments, s.name)
	}
	lines, err := checkpointLines(dir)
	if err != nil {
		return nil, nil, err
	}
	cp.cpAll = len(lines)
	for i, l := range lines {
		n, err := checkpointSize(l)
		if err != nil || n > rec.KeptEntries || (f.Kind == FailCheckpoint && i+1 >= f.Checkpoint) {
			break
		}
		cp.cpKeep = i + 1
	}
	rec.CheckpointsMoved = cp.cpAll - cp.cpKeep
	// The segments after the cut are moved out, so the next number is free.
	rec.NewSegment = segmentName(cp.seg.num + 1)
	rec.Seq = rec.KeptEntries + 1
	return rec, cp, nil
}

func checkpointLines(dir string) ([][]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out [][]byte
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			out = append(out, data) // a torn last line: moved out like the rest
			break
		}
		out = append(out, data[:nl])
		data = data[nl+1:]
	}
	return out, nil
}

// keepEvidence writes b as a new evidence file and returns its record.
func keepEvidence(dir, name string, b []byte) (Evidence, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return Evidence{}, fmt.Errorf("audit: keep evidence: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return Evidence{}, fmt.Errorf("audit: keep evidence: %w", err)
	}
	sum := sha256.Sum256(b)
	return Evidence{File: name, Bytes: int64(len(b)), SHA256: "sha256:" + hex.EncodeToString(sum[:]), Present: true}, nil
}

func applyRecovery(dir string, rec *Recovery, cp *cutPoint, opts RecoverOptions) error {
	stamp := rec.Time.Format("20060102T150405Z")
	// 1. Evidence first: nothing is cut before its copy is durable.
	data, err := os.ReadFile(filepath.Join(dir, cp.seg.name))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if tail := data[cp.off:]; len(tail) > 0 {
		ev, err := keepEvidence(dir, fmt.Sprintf("%s%s-%s-from-%d.bin", damagedPrefix, stamp, strings.TrimSuffix(cp.seg.name, segmentSuffix), cp.off), tail)
		if err != nil {
			return err
		}
		rec.Evidence = append(rec.Evidence, ev)
	}
	for _, s := range cp.after {
		b, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		ev, err := keepEvidence(dir, damagedPrefix+stamp+"-"+s.name, b)
		if err != nil {
			return err
		}
		rec.Evidence = append(rec.Evidence, ev)
	}
	lines, err := checkpointLines(dir)
	if err != nil {
		return err
	}
	if cp.cpKeep < len(lines) {
		moved := append(bytes.Join(lines[cp.cpKeep:], []byte("\n")), '\n')
		ev, err := keepEvidence(dir, damagedPrefix+stamp+"-"+checkpointsFile, moved)
		if err != nil {
			return err
		}
		rec.Evidence = append(rec.Evidence, ev)
	}
	// The latest checkpoint note is at least as new as the last checkpoint:
	// when checkpoints are moved out, it goes with them (the next
	// checkpoint writes a new one).
	var oldNote []byte
	if cp.cpKeep < len(lines) {
		if oldNote, err = readNote(dir); err != nil {
			return err
		}
	}
	if oldNote != nil {
		ev, err := keepEvidence(dir, damagedPrefix+stamp+"-"+noteFile, oldNote)
		if err != nil {
			return err
		}
		rec.Evidence = append(rec.Evidence, ev)
	}
	if len(rec.Evidence) == 0 {
		return fmt.Errorf("audit: verification fails (%v) but there is nothing after entry %d to move out; see `liaison audit verify`", &rec.Failure, rec.KeptEntries)
	}
	// 2. The record of what is about to be done, before doing it: a crash
	// from here on leaves a log that verify explains, and recover can be
	// run again.
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rf, err := os.OpenFile(filepath.Join(dir, recoveriesFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	_, werr := rf.Write(append(b, '\n'))
	serr := rf.Sync()
	if err := errors.Join(werr, serr, rf.Close()); err != nil {
		return fmt.Errorf("audit: record recovery: %w", err)
	}
	// 3. Cut: checkpoints, the segment, whole segments after it (and their
	// seal states, which describe entries that are gone).
	kept := []byte{}
	if cp.cpKeep > 0 {
		kept = append(bytes.Join(lines[:cp.cpKeep], []byte("\n")), '\n')
	}
	if err := writeFileAtomic(filepath.Join(dir, checkpointsFile), kept); err != nil {
		return fmt.Errorf("audit: rewrite checkpoints: %w", err)
	}
	if oldNote != nil {
		if err := os.Remove(filepath.Join(dir, noteFile)); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := os.Truncate(filepath.Join(dir, cp.seg.name), cp.off); err != nil {
		return fmt.Errorf("audit: cut %s: %w", cp.seg.name, err)
	}
	for _, s := range append([]segFile{cp.seg}, cp.after...) {
		if s != cp.seg {
			if err := os.Remove(filepath.Join(dir, s.name)); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		if err := os.Remove(filepath.Join(dir, stateName(s.name))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// 4. A new segment, whose first entry is the recovery, signed by the
	// checkpoint the log writes when it closes.
	n, _ := parseSegmentName(rec.NewSegment)
	if err := createSegment(dir, n); err != nil {
		return err
	}
	lo := opts.Log
	lo.defaults()
	if lo.Gateway == "" {
		lo.Gateway = rec.Gateway // checkpoints name the node the log is of
	}
	l, err := open(dir, lo, nil) // the caller holds the lock
	if err != nil {
		return fmt.Errorf("audit: reopen after recovery: %w", err)
	}
	ev := &Event{Time: rec.Time, Gateway: lo.Gateway, RequestID: "recovery-" + stamp, Operation: OpRecovery,
		Action: "audit.recover", Status: 200, Error: rec.Explain()}
	if ev.Gateway == "" {
		ev.Gateway = rec.Gateway
	}
	aerr := l.Append(context.Background(), ev)
	l.Close()
	if aerr != nil {
		return fmt.Errorf("audit: write the recovery entry: %w", aerr)
	}
	if ev.Seq != rec.Seq {
		return fmt.Errorf("audit: the recovery entry got seq %d, expected %d", ev.Seq, rec.Seq)
	}
	return nil
}

// readRecoveries loads dir's recovery records and checks their evidence.
func readRecoveries(dir string) ([]Recovery, error) {
	data, err := os.ReadFile(filepath.Join(dir, recoveriesFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var out []Recovery
	for _, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		var r Recovery
		if err := json.Unmarshal(line, &r); err != nil {
			return out, fmt.Errorf("audit: %s: %w", recoveriesFile, err)
		}
		for i := range r.Evidence {
			e := &r.Evidence[i]
			// Evidence is a file beside the log, nothing else: a name with
			// a path in it (this file is not signed) is never "present".
			if e.File == "" || e.File != filepath.Base(e.File) || !strings.HasPrefix(e.File, damagedPrefix) {
				e.Present = false
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.File))
			sum := sha256.Sum256(b)
			e.Present = err == nil && "sha256:"+hex.EncodeToString(sum[:]) == e.SHA256
		}
		out = append(out, r)
	}
	return out, nil
}
