// Package search is Liaison's hit/no-hit search over blind selector
// values: the references a hit answers with, and the search itself. A hit
// the caller may not read is answered only as "held by agency X under DSA
// Y" with a reference; the reference is what a follow-up request for
// information names, so the searcher never learns the record id, and the
// holder can resolve it to exactly the record that hit.
package search

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// RefPrefix starts every hit reference.
const RefPrefix = "hit_"

// Ref is what a hit reference carries, sealed (AES-256-GCM under a key
// derived from the gateway's signing key) so that it is opaque to the
// searcher and cannot be forged, altered or used by another agency.
type Ref struct {
	RecordID string `json:"r"`
	// Holder is the agency that holds the record (its originator).
	Holder string `json:"h"`
	// DSA is the agreement under which the hit was discoverable.
	DSA string `json:"d"`
	// Searcher is the agency the reference was issued to.
	Searcher string `json:"s"`
	// Issued is when (Unix seconds).
	Issued int64 `json:"t"`
}

// ErrBadRef: not a reference this gateway issued to this agency, or expired.
var ErrBadRef = errors.New("search: not a valid hit reference")

// RefTTL is how long a reference can be used for a follow-up request.
const RefTTL = 90 * 24 * time.Hour

const refAAD = "liaison.hit-ref/v1"

// SealRef returns the reference for r under key (32 bytes).
func SealRef(key []byte, r Ref) (string, error) {
	aead, err := refAEAD(key)
	if err != nil {
		return "", err
	}
	pt, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := aead.Seal(nonce, nonce, pt, []byte(refAAD+"\x00"+r.Searcher))
	return RefPrefix + base64.RawURLEncoding.EncodeToString(ct), nil
}

// OpenRef returns what s carries if it was sealed under key for searcher
// and is not older than RefTTL at now.
func OpenRef(key []byte, searcher, s string, now time.Time) (Ref, error) {
	aead, err := refAEAD(key)
	if err != nil {
		return Ref{}, err
	}
	raw, ok := strings.CutPrefix(s, RefPrefix)
	if !ok || len(raw) > 1024 {
		return Ref{}, ErrBadRef
	}
	ct, err := base64.RawURLEncoding.Strict().DecodeString(raw)
	if err != nil || len(ct) < aead.NonceSize()+aead.Overhead() {
		return Ref{}, ErrBadRef
	}
	pt, err := aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], []byte(refAAD+"\x00"+searcher))
	if err != nil {
		return Ref{}, ErrBadRef
	}
	var r Ref
	if err := json.Unmarshal(pt, &r); err != nil || r.Searcher != searcher {
		return Ref{}, ErrBadRef
	}
	if now.Sub(time.Unix(r.Issued, 0)) > RefTTL {
		return Ref{}, ErrBadRef
	}
	return r, nil
}

func refAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("search: reference key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
