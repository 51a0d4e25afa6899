package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/liaison-project/liaison/connectors/filelock"
)

// ErrLocked: another process (or another Log in this one) has the log
// directory open for writing. Two writers on one directory would each
// extend the chain from where they last saw it and overwrite the other's
// acknowledged entries, so the second is refused at open.
var ErrLocked = errors.New("audit: log directory is in use by another process")

// lockDir takes the log directory's single-writer lock: a flock on the
// directory itself (no lock file to clean up; the kernel drops it when the
// holder dies, so a crash never leaves a stale lock).
func lockDir(dir string) (*filelock.Lock, error) {
	lk, err := filelock.Acquire(dir)
	if errors.Is(err, filelock.ErrLocked) {
		return nil, fmt.Errorf("%w: %s (a running gateway, or `liaison audit recover`); only one process may write an audit directory", ErrLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return lk, nil
}

// probeFile is the scratch file the writability probe creates and removes.
const probeFile = ".write-probe"

// DefaultProbeInterval is how often the writer checks, unasked, that the
// log directory still takes writes.
const DefaultProbeInterval = 5 * time.Second

// probe checks that the directory takes a new file, a write and an fsync
// (the same write and sync functions entries use), which is what sealing
// a segment, signing a checkpoint and saving the listing-index state need.
// Appends alone would not notice a directory made read-only (the open
// segment still takes writes) until the next rotation, possibly hours
// later. Run by the writer goroutine only (it may cut a dirty segment).
func (l *Log) probe() error {
	if l.seg.dirty {
		if err := l.cut(&l.seg); err != nil {
			return err
		}
	}
	name := filepath.Join(l.dir, probeFile)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create a file in %s: %w", l.dir, err)
	}
	_, err = l.writeFn(f, []byte("probe\n"))
	if err == nil {
		err = l.syncFn(f)
	}
	cerr := f.Close()
	rerr := os.Remove(name)
	switch {
	case err != nil:
		return fmt.Errorf("write in %s: %w", l.dir, err)
	case cerr != nil:
		return fmt.Errorf("write in %s: %w", l.dir, cerr)
	case rerr != nil:
		return fmt.Errorf("remove a file in %s: %w", l.dir, rerr)
	}
	return nil
}

// runProbe probes and records the result: a failure makes Healthy report
// it; a success after failed writes clears them, so that readiness comes
// back on its own when the disk does, without waiting for a request to
// succeed first (the next append still has to succeed to be acknowledged).
func (l *Log) runProbe() {
	err := l.probe()
	if err != nil {
		msg := err.Error()
		l.probeMsg.Store(&msg)
		l.probeFailures.Add(1)
	} else {
		l.probeMsg.Store(nil)
		l.failMsg.Store(nil)
		if l.cpMsg.Load() != nil {
			l.checkpointAndRecord()
		}
	}
	if l.opts.OnProbe != nil {
		l.opts.OnProbe(err)
	}
}

// ProbeFailures counts failed writability probes (a metric).
func (l *Log) ProbeFailures() uint64 { return l.probeFailures.Load() }

// Writable is the last writability probe's result (nil: writable).
func (l *Log) Writable() error {
	if msg := l.probeMsg.Load(); msg != nil {
		return errors.New("audit directory not writable: " + *msg)
	}
	return nil
}
