// Package filelock takes exclusive advisory locks on files and directories,
// so that state that must have a single writer (the local keyring, an audit
// log directory) refuses a second process instead of being corrupted by it.
//
// The locks are flock(2) locks: the kernel drops them when the process
// dies, so a crash never leaves a stale lock behind, and an operator never
// has to delete a lock file by hand. Where flock is unavailable the lock is
// a no-op and the one-process rule rests on the operator.
package filelock

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked means another open handle (in this or another process) holds
// the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes an exclusive, non-blocking lock on path, which must exist
// (a regular file or a directory; a directory is opened read-only, so a
// read-only directory can still be locked). It fails with an error wrapping
// ErrLocked when another holder has it.
func Acquire(path string) (*Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := LockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is what the lock is held on.
func (l *Lock) Path() string { return l.path }

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := UnlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
