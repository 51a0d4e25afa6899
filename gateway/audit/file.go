package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// File is a Writer on an append-only JSON-lines file. Each entry carries the
// SHA-256 of the previous entry's line (prev) and of its own content (hash),
// so deleting, reordering or editing entries breaks the chain (VerifyFile).
// Appends are group-committed: concurrent callers share one write + fsync.
type File struct {
	path string
	f    *os.File
	reqs chan *appendReq
	done chan struct{}

	closeOnce sync.Once
	closed    atomic.Bool
	healthy   atomic.Bool
	lastErr   atomic.Value // string
	syncFn    func(*os.File) error
}

type appendReq struct {
	ev  *Event
	err chan error
}

// genesis is the prev of the first entry.
const genesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// OpenFile opens (creating if needed) the log at path and starts its writer.
// A torn last line — an append that crashed before its fsync, so it was never
// acknowledged — is cut off; the rest of the chain is checked on open.
func OpenFile(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	seq, prev, good, err := scan(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: truncate torn tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	w := &File{path: path, f: f, reqs: make(chan *appendReq, 1024), done: make(chan struct{}),
		syncFn: func(f *os.File) error { return f.Sync() }}
	w.healthy.Store(true)
	go w.loop(seq, prev)
	return w, nil
}

// scan reads the existing log and returns the last seq and hash and the
// offset after the last complete, chain-valid line.
func scan(f *os.File) (seq uint64, prev string, good int64, err error) {
	prev = genesis
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	for {
		line, rerr := r.ReadBytes('\n')
		if rerr == io.EOF {
			// A line without its newline was never fsynced as a whole: torn.
			return seq, prev, off, nil
		}
		if rerr != nil {
			return 0, "", 0, fmt.Errorf("audit: read: %w", rerr)
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return 0, "", 0, fmt.Errorf("audit: entry at byte %d is not valid JSON: the log was altered; run `liaison audit verify`", off)
		}
		if ev.Prev != prev || ev.Seq != seq+1 {
			return 0, "", 0, fmt.Errorf("audit: entry %d breaks the chain: the log was altered; run `liaison audit verify`", ev.Seq)
		}
		if h, _ := hashEvent(&ev); h != ev.Hash {
			return 0, "", 0, fmt.Errorf("audit: entry %d hash mismatch: the log was altered", ev.Seq)
		}
		seq, prev = ev.Seq, ev.Hash
		off += int64(len(line))
	}
}

// hashEvent is SHA-256 over the entry's JSON with Hash empty (Prev included,
// which chains it to its predecessor).
func hashEvent(ev *Event) (string, error) {
	c := *ev
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Append implements Writer.
func (w *File) Append(ctx context.Context, ev *Event) error {
	if w.closed.Load() {
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	req := &appendReq{ev: ev, err: make(chan error, 1)}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	case <-w.done:
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	select {
	case err := <-req.err:
		return err
	case <-ctx.Done():
		// The entry may still land; the caller must treat it as not written.
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// Healthy reports whether the last write succeeded (for /readyz).
func (w *File) Healthy() error {
	if w.closed.Load() {
		return errors.New("audit log closed")
	}
	if !w.healthy.Load() {
		msg, _ := w.lastErr.Load().(string)
		return errors.New("audit log not writable: " + msg)
	}
	return nil
}

func (w *File) loop(seq uint64, prev string) {
	defer close(w.done)
	var buf bytes.Buffer
	batch := make([]*appendReq, 0, 256)
	for {
		req, ok := <-w.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		// Take whatever else is already queued: one fsync for all of them.
	drain:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		buf.Reset()
		s, p := seq, prev
		var encErr error
		for _, r := range batch {
			s++
			r.ev.Seq, r.ev.Prev, r.ev.Hash = s, p, ""
			h, err := hashEvent(r.ev)
			if err != nil {
				encErr = err
				break
			}
			r.ev.Hash = h
			line, _ := json.Marshal(r.ev)
			buf.Write(line)
			buf.WriteByte('\n')
			p = h
		}
		err := encErr
		if err == nil {
			err = w.writeAll(buf.Bytes())
		}
		if err != nil {
			w.healthy.Store(false)
			w.lastErr.Store(err.Error())
			for _, r := range batch {
				r.err <- fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			continue
		}
		w.healthy.Store(true)
		seq, prev = s, p
		for _, r := range batch {
			r.err <- nil
		}
	}
}

// writeAll appends b and fsyncs; on failure it cuts the file back to where
// it was, so a failed batch leaves no partial entries for the next one to
// chain onto.
func (w *File) writeAll(b []byte) error {
	off, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(b); err != nil {
		w.rollback(off)
		return err
	}
	if err := w.syncFn(w.f); err != nil {
		w.rollback(off)
		return err
	}
	return nil
}

func (w *File) rollback(off int64) {
	_ = w.f.Truncate(off)
	_, _ = w.f.Seek(off, io.SeekStart)
}

// Close stops the writer after the queued appends are done.
func (w *File) Close() error {
	var err error
	w.closeOnce.Do(func() {
		w.closed.Store(true)
		close(w.reqs)
		<-w.done
		err = w.f.Close()
	})
	return err
}

// VerifyFile checks the whole chain of the log at path and returns the
// number of entries, or an error naming the first bad entry.
func VerifyFile(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	seq, _, good, err := scan(f)
	if err != nil {
		return seq, err
	}
	if good != st.Size() {
		return seq, fmt.Errorf("audit: %d trailing bytes after entry %d are not a complete entry", st.Size()-good, seq)
	}
	return seq, nil
}

// ReadFile returns every entry of the log at path (for queries and tests).
func ReadFile(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, line := range bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Now is the clock used for entries (UTC, to the microsecond).
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
