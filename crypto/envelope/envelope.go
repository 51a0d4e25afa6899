// Package envelope implements Liaison's envelope encryption: record content
// is sealed with AES-256-GCM under a data key, and the data key travels
// wrapped (by a keys.Provider) beside the ciphertext. The package holds the
// sealed-message format (Seal, Open, BindAAD) and a bounded data-key cache
// (CachingKeys) that keeps the provider off the hot path without letting a
// data key encrypt more than GCM allows.
package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealed format, version 1:
//
//	'L' 'E' 0x01 | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
//
// The three header bytes are authenticated with the caller's AAD, so a
// version byte cannot be swapped to make a parser treat the rest
// differently. Random 96-bit nonces are safe for up to 2^32 messages per
// key; CachingKeys enforces a far lower bound.
const (
	magic0, magic1 = 'L', 'E'
	version1       = 0x01
	headerLen      = 3
	nonceLen       = 12
	tagLen         = 16
	// KeySize is the only accepted data-key size (AES-256).
	KeySize = 32
	// Overhead is how many bytes Seal adds to the plaintext.
	Overhead = headerLen + nonceLen + tagLen
)

var (
	// ErrIntegrity: the sealed message was altered or truncated, or the key
	// or the AAD is not the one it was sealed with. The three cannot be told
	// apart, by design.
	ErrIntegrity = errors.New("envelope: integrity check failed")
	// ErrKeySize: the key is not KeySize bytes (a programming error).
	ErrKeySize = errors.New("envelope: data key must be 32 bytes")
)

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return cipher.NewGCM(block)
}

// headerAAD prefixes aad with the header so that both are authenticated.
func headerAAD(header, aad []byte) []byte {
	out := make([]byte, 0, len(header)+len(aad))
	return append(append(out, header...), aad...)
}

// Seal encrypts plaintext under key, authenticating aad (which is not
// stored: Open needs the same aad). It returns a new slice.
func Seal(key, plaintext, aad []byte) ([]byte, error) {
	return SealAppend(make([]byte, 0, Overhead+len(plaintext)), key, plaintext, aad)
}

// SealAppend is Seal appending the sealed message to dst, so that a caller
// framing it with other data (a record object) writes the ciphertext once,
// in place, instead of sealing into a buffer of its own and copying it
// after (for a 256 KB record, a quarter of a megabyte less to allocate,
// copy and collect per publish). With cap(dst)-len(dst) >= Overhead +
// len(plaintext) it does not allocate. plaintext must not overlap dst's
// spare capacity.
func SealAppend(dst, key, plaintext, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = append(dst, magic0, magic1, version1)
	dst = append(dst, make([]byte, nonceLen)...)
	hdr, nonce := dst[start:start+headerLen], dst[start+headerLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("envelope: random nonce: %w", err)
	}
	return gcm.Seal(dst, nonce, plaintext, headerAAD(hdr, aad)), nil
}

// Open authenticates and decrypts a message made by Seal. Any failure other
// than a wrong-sized key is ErrIntegrity, and no plaintext is returned.
func Open(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: message too short", ErrIntegrity)
	}
	if sealed[0] != magic0 || sealed[1] != magic1 {
		return nil, fmt.Errorf("%w: not a sealed envelope", ErrIntegrity)
	}
	if sealed[2] != version1 {
		return nil, fmt.Errorf("%w: unsupported envelope version %d", ErrIntegrity, sealed[2])
	}
	nonce := sealed[headerLen : headerLen+nonceLen]
	pt, err := gcm.Open(nil, nonce, sealed[headerLen+nonceLen:], headerAAD(sealed[:headerLen], aad))
	if err != nil {
		return nil, ErrIntegrity
	}
	if pt == nil {
		pt = []byte{} // an empty plaintext is still a success
	}
	return pt, nil
}

// BindAAD encodes fields (for example record id, version and metadata
// digest) as additional authenticated data. Each field is length-prefixed,
// so ("ab", "c") and ("a", "bc") bind differently, which plain concatenation
// would not.
func BindAAD(fields ...string) []byte {
	n := len(aadLabel)
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	out := make([]byte, 0, n)
	out = append(out, aadLabel...)
	for _, f := range fields {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

// aadLabel separates BindAAD output from any other use of the same key.
const aadLabel = "liaison/envelope/aad/v1\x00"
