//go:build unix

package filelock

import (
	"errors"
	"os"
	"syscall"
)

// LockFile takes an exclusive, non-blocking advisory lock on an open file.
// It returns ErrLocked if another open file description holds it.
func LockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrLocked
	}
	return err
}

// UnlockFile releases a lock taken with LockFile.
func UnlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// LockFileWait takes an exclusive advisory lock on an open file, waiting
// for other holders to release it. The wait cannot be cancelled: use it
// only for locks held briefly.
func LockFileWait(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
