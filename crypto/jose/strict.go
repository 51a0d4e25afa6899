package jose

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"io"
	"math/big"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Strictness beyond what the JOSE library checks. A token is read by more
// than one parser (ours for iss and the private claims, the library's for
// the registered ones), so anything two parsers could read differently is
// refused rather than resolved: duplicate member names (RFC 7515 §4 and
// RFC 7519 §4 let a recipient reject them; "last wins" is one parser's
// choice), dates written as strings, and the second of the two equally
// valid ECDSA signatures of a message.

var errDuplicateMember = errors.New("duplicate member name")

// checkMembers reports a JSON document that is malformed or holds an object
// with a member name given twice (compared after unescaping).
func checkMembers(b []byte) error {
	type frame struct {
		object  bool
		wantKey bool
		names   map[string]struct{}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var stack []*frame
	values := 0
	// value notes that a complete value or the start of one was read in
	// the current container: in an object the next string is a name again.
	value := func() {
		if len(stack) == 0 {
			values++
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if values != 1 || len(stack) != 0 {
				return errCompact
			}
			return nil
		}
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				value()
				stack = append(stack, &frame{object: d == '{', wantKey: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.object && top.wantKey {
				name, _ := tok.(string)
				if _, dup := top.names[name]; dup {
					return errDuplicateMember
				}
				if top.names == nil {
					top.names = map[string]struct{}{}
				}
				top.names[name] = struct{}{}
				top.wantKey = false
				continue
			}
		}
		value()
	}
}

// checkNumericDates requires exp, nbf and iat, when present, to be JSON
// numbers (RFC 7519 §2 NumericDate). The JWT library also accepts a string
// of digits, which no conforming issuer produces.
func checkNumericDates(claims []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(claims, &m); err != nil {
		return err
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := m[name]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
			return errors.New(name + " is not a JSON number (RFC 7519 NumericDate)")
		}
	}
	return nil
}

// ecdsaCurve is the curve of an ECDSA JWS algorithm, nil for the others.
func ecdsaCurve(alg jwa.SignatureAlgorithm) elliptic.Curve {
	switch alg {
	case jwa.ES256:
		return elliptic.P256()
	case jwa.ES384:
		return elliptic.P384()
	case jwa.ES512:
		return elliptic.P521()
	}
	return nil
}

// ecdsaHighS reports whether sig, a JWS ECDSA signature (R || S, each the
// curve order's byte length), has S > n/2. (R, S) and (R, n-S) both verify;
// accepting only the low one makes the signature, and so the token string,
// unique: a token cannot be re-encoded into a different valid token that
// slips past a deny-list or a replay cache keyed on the token.
func ecdsaHighS(curve elliptic.Curve, sig []byte) bool {
	n := curve.Params().N
	size := (n.BitLen() + 7) / 8
	if len(sig) != 2*size {
		return false // the signature check refuses it anyway
	}
	s := new(big.Int).SetBytes(sig[size:])
	return s.Cmp(new(big.Int).Rsh(n, 1)) > 0
}

// lowS rewrites an ECDSA JWS signature to its low-S form (S → n-S), which
// verifies equally; other signatures are returned unchanged.
func lowS(curve elliptic.Curve, sig []byte) []byte {
	if curve == nil || !ecdsaHighS(curve, sig) {
		return sig
	}
	n := curve.Params().N
	size := (n.BitLen() + 7) / 8
	s := new(big.Int).SetBytes(sig[size:])
	s.Sub(n, s)
	out := make([]byte, 2*size)
	copy(out, sig[:size])
	s.FillBytes(out[size:])
	return out
}
