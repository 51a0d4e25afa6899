package audit

import (
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// ErrLogHeld: another process (a running gateway) writes this log.
// It is ErrLocked, the single-writer lock Open takes, under the name the
// sealing code reads best with.
var ErrLogHeld = ErrLocked

// ErrNotThisLogsKey: a key offered to sign a checkpoint is not one this
// log's checkpoints are verified with.
var ErrNotThisLogsKey = errors.New("audit: not this log's audit key")

// SealOptions configure SealHead.
type SealOptions struct {
	// Signer is the log's own audit key (audit.signing_key). Required.
	Signer *jose.Signer
	// Gateway names the node in the checkpoint; empty takes the log's own
	// (its last checkpoint's, else its entries').
	Gateway string
	// JWKS, when set, is the key set the export will pin: the signer must
	// be in it, or the new checkpoint could not be verified against it.
	JWKS []byte
	Now  func() time.Time
}

// SealHead signs a checkpoint over every entry of the log in dir, so that
// an export made next covers every entry. It returns the verification
// report from before sealing (Unsigned says how many entries the new
// checkpoint covers that none did; 0 means nothing was signed).
//
// It does so as the log's writer: it opens the log, which takes the
// directory's exclusive lock, and closes it, which signs the tree head
// into checkpoints.jws like a gateway's shutdown. A running gateway holds
// that lock, and SealHead then fails with ErrLogHeld without writing: a
// second writer could sign over an entry the gateway has written but not
// yet made durable (and would cut on a failed fsync), which would leave
// two signed, conflicting views of the log. That gateway signs within
// audit.checkpoint_interval anyway.
//
// The log must verify first (SealHead never repairs anything), and the
// signer must be a key the log has already published: a checkpoint signed
// with any other key would be worthless to a verifier.
func SealHead(dir string, o SealOptions) (*Report, error) {
	if o.Signer == nil {
		return nil, errors.New("audit: sealing needs the log's signing key")
	}
	dir = LogDir(dir)
	r, err := Verify(dir, VerifyOptions{JWKS: o.JWKS})
	if err != nil {
		return nil, err
	}
	if !r.OK {
		return r, fmt.Errorf("audit: %s does not verify, so it is not sealed: %w", dir, r.Err())
	}
	if r.Unsigned == 0 {
		return r, nil
	}
	published, err := readKeys(dir)
	if err != nil {
		return r, err
	}
	for _, set := range [][]byte{published, o.JWKS} {
		if set == nil {
			continue
		}
		ks, err := jwk.Parse(set)
		if err != nil {
			return r, fmt.Errorf("audit: key set: %w", err)
		}
		if _, ok := ks.LookupKeyID(o.Signer.KeyID()); !ok {
			return r, fmt.Errorf("%w: key %s is not among the keys that verify %s", ErrNotThisLogsKey, o.Signer.KeyID(), dir)
		}
	}
	gw := o.Gateway
	if gw == "" {
		gw = r.Gateway
	}
	if r.Gateway != "" && gw != r.Gateway {
		return r, fmt.Errorf("audit: %s is the log of gateway %s, not %s", dir, r.Gateway, gw)
	}
	if gw == "" {
		return r, fmt.Errorf("audit: %s names no gateway; give its gateway id", dir)
	}
	l, err := Open(dir, Options{Gateway: gw, Signer: o.Signer, Now: o.Now})
	if err != nil {
		return r, err
	}
	if err := l.Close(); err != nil {
		return r, err
	}
	if msg := l.cpMsg.Load(); msg != nil {
		return r, fmt.Errorf("audit: checkpoint not written: %s", *msg)
	}
	return r, nil
}
