//go:build !unix

package localkeys

import "os"

// lockFile is a no-op where flock is unavailable: the keyring then relies on
// the operator running one process per keyring file.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) error { return nil }
