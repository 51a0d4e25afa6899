package audit

import (
	"crypto/rand"
	"encoding/base32"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewRequestID returns a fresh request id ("req_" and 96 random bits): it
// ties together every entry one request (or one custody operation)
// writes, and is returned to the caller in Liaison-Request-Id.
func NewRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + idEncoding.EncodeToString(b[:])
}
