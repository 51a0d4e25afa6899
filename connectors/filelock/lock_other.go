//go:build !unix

package filelock

import "os"

// LockFile is a no-op where flock is unavailable: the single-writer rule
// then relies on the operator running one process per file.
func LockFile(*os.File) error { return nil }

// UnlockFile is a no-op where flock is unavailable.
func UnlockFile(*os.File) error { return nil }

// LockFileWait is a no-op where flock is unavailable.
func LockFileWait(*os.File) error { return nil }
