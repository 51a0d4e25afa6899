//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockWriter takes the log directory's exclusive, non-blocking advisory
// lock (flock on writer.lock). The kernel drops it when the process dies,
// so a crash never leaves a stale lock behind.
func lockWriter(dir string) (func(), error) {
	path := filepath.Join(dir, writerLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: lock %s: %w", path, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("%w: %s is locked by another process (a running gateway?); stop it first", ErrLogHeld, dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
