package audit

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// HMACPrefix marks a value stored as its HMAC instead of in clear.
const HMACPrefix = "hmac-sha256:"

// HMACFieldNames are the entry fields that can be stored as HMACs: free
// text and identifiers an auditor can check against a known value, never
// the fields queries and verification depend on.
var HMACFieldNames = []string{"justification", "case", "purpose", "officer", "error"}

// ValidHMACField reports whether name can be listed in hmac_fields.
func ValidHMACField(name string) bool {
	for _, n := range HMACFieldNames {
		if n == name {
			return true
		}
	}
	return false
}

// HMAC is what a field with value v holds when it is HMACed with key.
func HMAC(key []byte, v string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(v))
	return HMACPrefix + hex.EncodeToString(m.Sum(nil))
}

// LoadOrCreateHMACKey reads the hex HMAC key at path, or creates a random
// 32-byte one (mode 0600). Concurrent first starts agree on one key.
func LoadOrCreateHMACKey(path string) ([]byte, error) {
	key, err := LoadHMACKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("audit: hmac key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: hmac key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadHMACKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: hmac key: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(raw) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("audit: hmac key: %w", err)
	}
	return raw, nil
}

// LoadHMACKey reads the hex HMAC key at path.
func LoadHMACKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: hmac key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("audit: hmac key %s: not at least 16 bytes of hex", path)
	}
	return key, nil
}

// hmacFields replaces the named fields of e with their HMACs.
func hmacFields(e *Event, key []byte, fields []string) {
	for _, f := range fields {
		var p *string
		switch f {
		case "justification":
			p = &e.Justification
		case "case":
			p = &e.Case
		case "purpose":
			p = &e.Purpose
		case "officer":
			p = &e.Officer
		case "error":
			p = &e.Error
		}
		if p == nil || *p == "" || strings.HasPrefix(*p, HMACPrefix) {
			continue
		}
		*p = HMAC(key, *p)
		e.HMACFields = append(e.HMACFields, f)
	}
}

// matchValue reports whether an entry's field value stored is the query
// value q, in clear or, when a key is given, as its HMAC.
func matchValue(stored, q string, key []byte) bool {
	if stored == q {
		return true
	}
	return key != nil && strings.HasPrefix(stored, HMACPrefix) && hmac.Equal([]byte(stored), []byte(HMAC(key, q)))
}
