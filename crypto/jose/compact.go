package jose

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// compactJWS is a compact JWS split and decoded strictly.
type compactJWS struct {
	header    joseHeader
	payload   []byte
	signature []byte
}

// joseHeader is the part of a protected header this package looks at.
type joseHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

var errCompact = errors.New("not a compact JWS")

// strictB64 rejects padding, non-zero trailing bits and any byte outside the
// base64url alphabet (the standard decoder skips CR and LF), so that exactly
// one string encodes a given JWS: any altered byte fails.
var strictB64 = base64.RawURLEncoding.Strict()

func isB64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// parseCompact splits a compact JWS of at most maxLen bytes. Headers that
// change how the payload is read (crit, b64 of RFC 7797) are refused: this
// package supports neither, and ignoring them would mis-verify.
func parseCompact(raw string, maxLen int) (*compactJWS, error) {
	if len(raw) == 0 || len(raw) > maxLen {
		return nil, errCompact
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errCompact
	}
	var dec [3][]byte
	for i, p := range parts {
		// An empty signature is let through so that alg "none" is refused
		// by name; no allowed algorithm verifies an empty signature.
		if (p == "" && i < 2) || !isB64URL(p) {
			return nil, errCompact
		}
		b, err := strictB64.DecodeString(p)
		if err != nil {
			return nil, errCompact
		}
		dec[i] = b
	}
	// A header naming alg (or kid) twice could be read one way here and
	// another way by the library that verifies: malformed.
	if err := checkMembers(dec[0]); err != nil {
		return nil, errCompact
	}
	var h joseHeader
	if err := json.Unmarshal(dec[0], &h); err != nil {
		return nil, errCompact
	}
	if h.Crit != nil || h.B64 != nil {
		return nil, errCompact
	}
	return &compactJWS{header: h, payload: dec[1], signature: dec[2]}, nil
}
