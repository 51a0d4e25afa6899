package jose

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/liaison-project/liaison/crypto/identity"
)

// Officer token errors. Every error returned by OfficerVerifier.Verify
// matches ErrInvalidToken and exactly one of the others, so the gateway can
// answer 401 and still say which rule failed.
var (
	ErrInvalidToken = errors.New("jose: invalid officer token")
	// ErrMalformed: not a compact JWS carrying a JSON claims set.
	ErrMalformed = errors.New("jose: officer token malformed")
	// ErrAlgorithm: alg is none, HMAC or otherwise not allowed, or does not
	// fit the key.
	ErrAlgorithm = errors.New("jose: officer token algorithm not allowed")
	// ErrWrongAgency: iss names another agency than the client certificate.
	ErrWrongAgency = errors.New("jose: officer token issued by another agency")
	// ErrUnknownAgency: no key set is loaded for the connection's agency.
	ErrUnknownAgency = errors.New("jose: no officer token keys for this agency")
	// ErrBadSignature: the signature does not verify (also used by Signer
	// and Verifier for any alteration of a gateway JWS).
	ErrBadSignature = errors.New("jose: invalid signature")
	// ErrExpired: exp is past (beyond the allowed skew).
	ErrExpired = errors.New("jose: officer token expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond the allowed skew).
	ErrNotYetValid = errors.New("jose: officer token not yet valid")
	// ErrAudience: aud does not include this gateway.
	ErrAudience = errors.New("jose: officer token not issued for this gateway")
	// ErrClaims: a required claim is missing or a claim has a bad value.
	ErrClaims = errors.New("jose: officer token claims invalid")
	// ErrCertBinding: cnf binds the token to another certificate (RFC 8705).
	ErrCertBinding = errors.New("jose: officer token bound to another certificate")
)

// tokenError carries one rule's sentinel and a fixed description; it never
// holds token text or claim values.
type tokenError struct {
	kind   error
	detail string
}

func (e *tokenError) Error() string {
	if e.detail == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.detail
}

func (e *tokenError) Unwrap() []error { return []error{ErrInvalidToken, e.kind} }

func tokenErr(kind error, detail string) error { return &tokenError{kind: kind, detail: detail} }

// Clearance levels (national security vetting) and police vetting levels
// accepted in officer tokens.
var (
	Clearances = []string{"BPSS", "SC", "eSC", "DV", "eDV"}
	Vettings   = []string{"RV", "MV", "NPPV1", "NPPV2", "NPPV3"}
)

// Officer is the verified subject of an officer token.
type Officer struct {
	ID          string    // sub
	Agency      string    // iss, equal to the connection's agency
	Clearance   string    // one of Clearances, or ""
	Vetting     string    // one of Vettings, or ""
	Nationality string    // ISO 3166-1 alpha-3, or ""
	Roles       []string  // roles granted by the agency
	ExpiresAt   time.Time // exp
}

// Claim names.
const (
	claimClearance   = "clearance"
	claimVetting     = "vetting"
	claimRoles       = "roles"
	claimNationality = "nationality"
	claimCnf         = "cnf"
	cnfX5tS256       = "x5t#S256"
)

// Limits on what a token may carry: they bound the work done on an
// unauthenticated input and what reaches audit records.
const (
	maxTokenLen  = 16 << 10
	maxRoles     = 64
	maxRoleLen   = 64
	DefaultSkew  = 30 * time.Second
	maxClockSkew = 5 * time.Minute
	minRSABits   = 2048
)

var nationalityPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// allowedAlgs are the asymmetric algorithms agencies may sign with. none and
// the HMAC family are never accepted: with HMAC a public key would become a
// shared secret.
var allowedAlgs = map[string]jwa.SignatureAlgorithm{
	jwa.ES256.String(): jwa.ES256,
	jwa.ES384.String(): jwa.ES384,
	jwa.EdDSA.String(): jwa.EdDSA,
	jwa.RS256.String(): jwa.RS256,
	jwa.PS256.String(): jwa.PS256,
}

// OfficerVerifier verifies officer tokens against per-agency public key sets
// read from <dir>/<agency>.json.
type OfficerVerifier struct {
	dir      string
	audience string
	skew     time.Duration
	sets     atomic.Pointer[map[string]jwk.Set]
	// extra are key sets held beside the directory's files: those of the
	// agencies the gateway's registry added (SetExtraKeySets). They take
	// precedence: the registry is the newer word on an agency's keys.
	extra atomic.Pointer[map[string]jwk.Set]
	// source, if set, is asked first: key sets fetched from an agency's
	// JWKS URL (SetKeySource).
	source   atomic.Pointer[KeySource]
	reloadMu sync.Mutex
	// reload is what Reload remembers between runs (keyset.go).
	reload reloadState
}

// VerifierOption adjusts an OfficerVerifier.
type VerifierOption func(*OfficerVerifier)

// WithSkew sets the clock skew allowed on exp, nbf and iat (default 30s,
// capped at 5m).
func WithSkew(d time.Duration) VerifierOption {
	return func(v *OfficerVerifier) { v.skew = min(max(d, 0), maxClockSkew) }
}

// NewOfficerVerifier loads every agency key set in jwksDir; audience is this
// gateway's identifier, which tokens must carry in aud.
func NewOfficerVerifier(jwksDir, audience string, opts ...VerifierOption) (*OfficerVerifier, error) {
	if audience == "" {
		return nil, errors.New("jose: officer verifier needs an audience")
	}
	v := &OfficerVerifier{dir: jwksDir, audience: audience, skew: DefaultSkew}
	for _, o := range opts {
		o(v)
	}
	if err := v.Reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// Agencies lists the agencies whose key sets are loaded.
func (v *OfficerVerifier) Agencies() []string {
	sets := *v.sets.Load()
	out := make([]string, 0, len(sets))
	for a := range sets {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// SetExtraKeySets replaces the key sets held beside the directory's files
// (by agency id); the next Verify uses them.
func (v *OfficerVerifier) SetExtraKeySets(sets map[string]jwk.Set) {
	c := make(map[string]jwk.Set, len(sets))
	for a, s := range sets {
		c[a] = s
	}
	v.extra.Store(&c)
}

// KeySource returns an agency's officer-token key set when it knows the
// agency (ok), or an error when it should and cannot (a JWKS URL that does
// not answer).
type KeySource func(ctx context.Context, agency string) (set jwk.Set, ok bool, err error)

// SetKeySource makes Verify ask src first.
func (v *OfficerVerifier) SetKeySource(src KeySource) { v.source.Store(&src) }

// ParsePublicKeySet checks a JWKS as the verifier does for the files of its
// directory: asymmetric public signing keys, each with a distinct kid.
func ParsePublicKeySet(data []byte) (jwk.Set, error) { return parsePublicSet(data) }

// parsePublicSet accepts a JWKS of asymmetric public signing keys, each with
// a distinct kid. A private key in a "public" set means the agency's signing
// key has been published; refusing it makes that loud.
func parsePublicSet(data []byte) (jwk.Set, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, errors.New("not a JWK set")
	}
	if set.Len() == 0 {
		return nil, errors.New("empty key set")
	}
	kids := make(map[string]bool)
	for i := range set.Len() {
		k, _ := set.Key(i)
		priv, err := jwk.IsPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("key %d is not an asymmetric key", i)
		}
		if priv {
			return nil, fmt.Errorf("key %d is a private key", i)
		}
		if k.KeyID() == "" || kids[k.KeyID()] {
			return nil, fmt.Errorf("key %d has no kid or a duplicate kid", i)
		}
		if u := k.KeyUsage(); u != "" && u != jwk.ForSignature.String() {
			return nil, fmt.Errorf("key %d is not a signing key", i)
		}
		// An Ed25519 key of the wrong length would panic in
		// ed25519.Verify at the first token: refuse it with the file.
		if ok, isOKP := k.(jwk.OKPPublicKey); isOKP && (ok.Crv() != jwa.Ed25519 || len(ok.X()) != ed25519.PublicKeySize) {
			return nil, fmt.Errorf("key %d is an OKP key that is not a %d-byte Ed25519 public key", i, ed25519.PublicKeySize)
		}
		if rk, ok := k.(jwk.RSAPublicKey); ok && len(rk.N())*8 < minRSABits {
			return nil, fmt.Errorf("key %d is an RSA key shorter than %d bits", i, minRSABits)
		}
		if a := k.Algorithm().String(); a != "" {
			if _, ok := allowedAlgs[a]; !ok {
				return nil, fmt.Errorf("key %d has a disallowed algorithm", i)
			}
		}
		kids[k.KeyID()] = true
	}
	return set, nil
}

// officerClaims are the private claims, decoded with their JSON types
// enforced (a number where a string belongs is an error, not a zero value).
type officerClaims struct {
	Clearance   string                     `json:"clearance"`
	Vetting     string                     `json:"vetting"`
	Roles       []string                   `json:"roles"`
	Nationality string                     `json:"nationality"`
	Cnf         map[string]json.RawMessage `json:"cnf"`
}

// Verify checks an officer token presented on a connection authenticated as
// agencyID with the client certificate whose x5t#S256 thumbprint is
// certThumbprint, at time now, and returns the officer.
//
// The token must be a compact JWS signed with an allowed asymmetric
// algorithm by a key in agencyID's set; iss must be agencyID; aud must
// include this gateway; exp and sub are required; exp, nbf and iat are
// checked with the configured skew; clearance, vetting, roles and nationality
// must be well formed; and a cnf x5t#S256 must equal certThumbprint.
func (v *OfficerVerifier) Verify(ctx context.Context, raw, agencyID, certThumbprint string, now time.Time) (Officer, error) {
	if err := ctx.Err(); err != nil {
		return Officer{}, err
	}
	c, err := parseCompact(raw, maxTokenLen)
	if err != nil {
		return Officer{}, tokenErr(ErrMalformed, "not a compact JWS")
	}
	alg, ok := allowedAlgs[c.header.Alg]
	if !ok {
		return Officer{}, tokenErr(ErrAlgorithm, "")
	}
	// Read iss before the signature so that "issued by another agency" is
	// reported as such; nothing from the unverified payload is trusted.
	var peek struct {
		Iss any `json:"iss"`
	}
	if err := json.Unmarshal(c.payload, &peek); err != nil {
		return Officer{}, tokenErr(ErrMalformed, "claims are not a JSON object")
	}
	if errors.Is(checkMembers(c.payload), errDuplicateMember) {
		return Officer{}, tokenErr(ErrMalformed, "a claim name is given twice")
	}
	if err := checkNumericDates(c.payload); err != nil {
		return Officer{}, tokenErr(ErrMalformed, "exp, nbf and iat must be JSON numbers (RFC 7519 NumericDate)")
	}
	switch iss, isString := peek.Iss.(string); {
	case peek.Iss == nil:
		return Officer{}, tokenErr(ErrClaims, "iss is missing")
	case !isString:
		return Officer{}, tokenErr(ErrMalformed, "iss is not a string")
	case iss != agencyID:
		return Officer{}, tokenErr(ErrWrongAgency, "")
	}

	var set jwk.Set
	ok = false
	if src := v.source.Load(); src != nil {
		var err error
		if set, ok, err = (*src)(ctx, agencyID); err != nil {
			// Fail closed: no keys, no officer.
			return Officer{}, tokenErr(ErrUnknownAgency, "the agency's officer-token keys could not be fetched")
		}
	}
	if extra := v.extra.Load(); !ok && extra != nil {
		set, ok = (*extra)[agencyID]
	}
	if !ok {
		set, ok = (*v.sets.Load())[agencyID]
	}
	if !ok {
		return Officer{}, tokenErr(ErrUnknownAgency, "")
	}
	key, ok := set.LookupKeyID(c.header.Kid)
	if !ok || c.header.Kid == "" {
		return Officer{}, tokenErr(ErrBadSignature, "no key of this agency has the token's kid")
	}
	if ka := key.Algorithm().String(); ka != "" && ka != alg.String() {
		return Officer{}, tokenErr(ErrAlgorithm, "algorithm does not match the key")
	}
	if fits, err := jws.AlgorithmsForKey(key); err != nil || !slices.Contains(fits, alg) {
		return Officer{}, tokenErr(ErrAlgorithm, "algorithm does not fit the key type")
	}
	if curve := ecdsaCurve(alg); curve != nil && ecdsaHighS(curve, c.signature) {
		return Officer{}, tokenErr(ErrBadSignature, "ECDSA signature is not in low-S form")
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKey(alg, key))
	if err != nil {
		return Officer{}, tokenErr(ErrBadSignature, "")
	}

	tok := jwt.New()
	if err := json.Unmarshal(payload, tok); err != nil {
		return Officer{}, tokenErr(ErrMalformed, "registered claims have wrong types")
	}
	err = jwt.Validate(tok,
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithIssuer(agencyID),
		jwt.WithAudience(v.audience),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
		jwt.WithRequiredClaim(jwt.SubjectKey),
	)
	if err != nil {
		return Officer{}, mapValidation(err)
	}

	var oc officerClaims
	if err := json.Unmarshal(payload, &oc); err != nil {
		return Officer{}, tokenErr(ErrClaims, "officer claims have wrong types")
	}
	o := Officer{
		ID:          tok.Subject(),
		Agency:      agencyID,
		Clearance:   oc.Clearance,
		Vetting:     oc.Vetting,
		Nationality: oc.Nationality,
		Roles:       oc.Roles,
		ExpiresAt:   tok.Expiration(),
	}
	if err := o.validate(); err != nil {
		return Officer{}, err
	}
	if err := checkBinding(oc.Cnf, certThumbprint); err != nil {
		return Officer{}, err
	}
	if o.Roles == nil {
		o.Roles = []string{}
	}
	return o, nil
}

func mapValidation(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired()):
		return tokenErr(ErrExpired, "")
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return tokenErr(ErrNotYetValid, "nbf is in the future")
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return tokenErr(ErrNotYetValid, "iat is in the future")
	case errors.Is(err, jwt.ErrInvalidAudience()):
		return tokenErr(ErrAudience, "")
	case errors.Is(err, jwt.ErrInvalidIssuer()):
		return tokenErr(ErrWrongAgency, "")
	case errors.Is(err, jwt.ErrRequiredClaim()):
		return tokenErr(ErrClaims, "a required claim (sub, exp) is missing")
	default:
		return tokenErr(ErrClaims, "registered claims do not validate")
	}
}

// printable reports whether s is valid UTF-8 without control characters:
// officer ids and roles go into audit records and logs, where a newline or
// escape sequence could forge entries.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		// Officer ids and roles are written to the audit log: besides
		// controls, refuse the line/paragraph separators and format
		// characters (bidi overrides and isolates) that would forge or
		// disguise a log line when displayed, as the gateway does for
		// justifications. ZWNJ/ZWJ are kept: some scripts need them.
		if unicode.IsControl(r) || (r != 0x200c && r != 0x200d && unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)) {
			return false
		}
	}
	return true
}

func (o *Officer) validate() error {
	if !identity.ValidOfficerID(o.ID) {
		return tokenErr(ErrClaims, "sub is empty, too long or not printable")
	}
	if o.Clearance != "" && !slices.Contains(Clearances, o.Clearance) {
		return tokenErr(ErrClaims, "unknown clearance")
	}
	if o.Vetting != "" && !slices.Contains(Vettings, o.Vetting) {
		return tokenErr(ErrClaims, "unknown vetting level")
	}
	if o.Nationality != "" && !nationalityPattern.MatchString(o.Nationality) {
		return tokenErr(ErrClaims, "nationality is not an ISO 3166-1 alpha-3 code")
	}
	if len(o.Roles) > maxRoles {
		return tokenErr(ErrClaims, "too many roles")
	}
	for _, r := range o.Roles {
		if r == "" || len(r) > maxRoleLen || !printable(r) {
			return tokenErr(ErrClaims, "a role is empty, too long or not printable")
		}
	}
	return nil
}

// checkBinding enforces RFC 8705 certificate binding when the token asks for
// it. A cnf with any other confirmation method is refused: accepting it would
// silently drop a sender constraint the issuer meant to impose.
func checkBinding(cnf map[string]json.RawMessage, certThumbprint string) error {
	if cnf == nil {
		return nil
	}
	rawTP, ok := cnf[cnfX5tS256]
	if !ok || len(cnf) != 1 {
		return tokenErr(ErrCertBinding, "unsupported confirmation method")
	}
	var tp string
	if err := json.Unmarshal(rawTP, &tp); err != nil || tp == "" {
		return tokenErr(ErrCertBinding, "malformed x5t#S256")
	}
	if certThumbprint == "" || subtle.ConstantTimeCompare([]byte(tp), []byte(certThumbprint)) != 1 {
		return tokenErr(ErrCertBinding, "")
	}
	return nil
}

// IssueOption adjusts IssueOfficerToken.
type IssueOption func(*issueOpts)

type issueOpts struct {
	thumbprint string
	issuedAt   time.Time
}

// WithCertBinding binds the token to a client certificate (RFC 8705
// cnf.x5t#S256; see crypto/pki.CertThumbprintS256).
func WithCertBinding(x5tS256 string) IssueOption {
	return func(o *issueOpts) { o.thumbprint = x5tS256 }
}

// WithIssuedAt sets iat and nbf (default now); exp is iat+ttl.
func WithIssuedAt(t time.Time) IssueOption {
	return func(o *issueOpts) { o.issuedAt = t }
}

// ErrKey: a key is unusable for the requested operation.
var ErrKey = errors.New("jose: unusable key")

// IssueOfficerToken signs an officer token for agencyID (iss) and audience
// (aud) with key, a private JWK whose kid goes into the header. The token
// expires ttl after issue; with ttl <= 0, o.ExpiresAt is used instead. It is
// what `liaison dev token` and tests use; agencies normally run their own
// issuer.
func IssueOfficerToken(key jwk.Key, agencyID, audience string, o Officer, ttl time.Duration, opts ...IssueOption) (string, error) {
	var io issueOpts
	for _, f := range opts {
		f(&io)
	}
	if io.issuedAt.IsZero() {
		io.issuedAt = time.Now()
	}
	alg, err := signingAlg(key)
	if err != nil {
		return "", err
	}
	if !identity.ValidID(agencyID) || audience == "" {
		return "", fmt.Errorf("%w: agency id or audience invalid", ErrClaims)
	}
	if o.Agency != "" && o.Agency != agencyID {
		return "", fmt.Errorf("%w: officer belongs to another agency", ErrClaims)
	}
	if err := o.validate(); err != nil {
		return "", err
	}
	exp := io.issuedAt.Add(ttl)
	if ttl <= 0 {
		exp = o.ExpiresAt
	}
	if exp.IsZero() || !exp.After(io.issuedAt) {
		return "", fmt.Errorf("%w: token must expire after it is issued", ErrClaims)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("jose: token id: %w", err)
	}
	b := jwt.NewBuilder().
		Issuer(agencyID).
		Subject(o.ID).
		Audience([]string{audience}).
		IssuedAt(io.issuedAt).
		NotBefore(io.issuedAt).
		Expiration(exp).
		JwtID(base64.RawURLEncoding.EncodeToString(jti))
	if o.Clearance != "" {
		b = b.Claim(claimClearance, o.Clearance)
	}
	if o.Vetting != "" {
		b = b.Claim(claimVetting, o.Vetting)
	}
	if o.Nationality != "" {
		b = b.Claim(claimNationality, o.Nationality)
	}
	if o.Roles != nil {
		b = b.Claim(claimRoles, o.Roles)
	}
	if io.thumbprint != "" {
		b = b.Claim(claimCnf, map[string]string{cnfX5tS256: io.thumbprint})
	}
	tok, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("jose: build token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(alg, key))
	if err != nil {
		return "", fmt.Errorf("jose: sign token: %w", err)
	}
	return canonicalECDSA(alg, string(signed))
}

// canonicalECDSA puts an ECDSA token's signature in low-S form, the only
// form Verify accepts (Go's ECDSA signer returns either half at random).
// Agencies running their own issuer must do the same (docs/api.md).
func canonicalECDSA(alg jwa.SignatureAlgorithm, tok string) (string, error) {
	curve := ecdsaCurve(alg)
	if curve == nil {
		return tok, nil
	}
	i := strings.LastIndexByte(tok, '.')
	sig, err := strictB64.DecodeString(tok[i+1:])
	if i < 0 || err != nil {
		return "", fmt.Errorf("jose: sign token: unexpected signature encoding")
	}
	return tok[:i+1] + strictB64.EncodeToString(lowS(curve, sig)), nil
}

// signingAlg returns the algorithm for a private signing key: its alg if
// set (and allowed), otherwise the usual one for its type.
func signingAlg(key jwk.Key) (jwa.SignatureAlgorithm, error) {
	if key == nil {
		return "", fmt.Errorf("%w: no key", ErrKey)
	}
	priv, err := jwk.IsPrivateKey(key)
	if err != nil || !priv {
		return "", fmt.Errorf("%w: not an asymmetric private key", ErrKey)
	}
	if a := key.Algorithm().String(); a != "" {
		alg, ok := allowedAlgs[a]
		if !ok {
			return "", fmt.Errorf("%w: algorithm %s not allowed", ErrKey, a)
		}
		return alg, nil
	}
	switch k := key.(type) {
	case jwk.ECDSAPrivateKey:
		switch k.Crv() {
		case jwa.P256:
			return jwa.ES256, nil
		case jwa.P384:
			return jwa.ES384, nil
		}
	case jwk.OKPPrivateKey:
		if k.Crv() == jwa.Ed25519 {
			return jwa.EdDSA, nil
		}
	case jwk.RSAPrivateKey:
		return jwa.PS256, nil
	}
	return "", fmt.Errorf("%w: unsupported key type", ErrKey)
}

// LoadPrivateJWK reads a private signing JWK (for example an agency's
// officer-key.jwk.json from the dev federation). A key without kid gets its
// RFC 7638 thumbprint. Errors never include file content.
func LoadPrivateJWK(path string) (jwk.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jose: private JWK: %w", err)
	}
	data = bytes.TrimSpace(data)
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s does not hold a JWK", ErrKey, path)
	}
	if _, err := signingAlg(key); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := jwk.AssignKeyID(key); err != nil {
		return nil, fmt.Errorf("%w: %s: kid: %v", ErrKey, path, err)
	}
	return key, nil
}
