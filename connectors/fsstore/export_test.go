package fsstore

import "os"

// SetWriteFn injects a fault into the temporary file's write (tests).
func SetWriteFn(s *Store, fn func(f *os.File, b []byte) (int, error)) { s.writeFn = fn }
