package recordstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// Idempotency reservation states.
const (
	IdemPending = "pending"
	IdemDone    = "done"
)

const (
	idemFormat = "liaison.idempotency/v1"
	idemPrefix = "idempotency/"
)

// Idem is the stored reservation of an Idempotency-Key and, once the
// request is done, its answer. Signed like record metadata, so an edited
// one cannot make a retry answer with another record's id.
type Idem struct {
	Format string `json:"format"`
	// Object is the reservation's own object key: a signed reservation
	// copied to another key (another agency's, another key's) does not
	// verify.
	Object string `json:"object"`
	Agency string `json:"agency"`
	// RequestHash is SHA-256 over method, path and body: the same key with
	// another request is refused, never answered with the first's result.
	RequestHash string    `json:"request_hash"`
	State       string    `json:"state"`
	Created     time.Time `json:"created"`
	RequestID   string    `json:"request_id"`
	// RecordID is the id a publish under this key uses, fixed when the key
	// is reserved, so that a resumed publish makes the same record.
	RecordID string `json:"record_id,omitempty"`
	// The answer, once done.
	Status   int             `json:"status,omitempty"`
	Location string          `json:"location,omitempty"`
	Body     json.RawMessage `json:"body,omitempty"`
}

// IdemKey is where agency's reservation of Idempotency-Key key is kept.
func IdemKey(agency, key string) string {
	sum := sha256.Sum256([]byte(key))
	return idemPrefix + agency + "/" + hex.EncodeToString(sum[:])
}

// NewIdem returns a reservation in the stored format, kept at key.
func NewIdem(key string) *Idem { return &Idem{Format: idemFormat, Object: key} }

// LoadIdem reads the reservation at key: nil if there is none, ErrTampered
// (counted) if it does not verify — never "absent", which would let a
// duplicate through.
func (rs *Store) LoadIdem(ctx context.Context, key string) (*Idem, error) {
	b, err := rs.store.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec, err := rs.decodeIdem(key, b)
	return rec, rs.checked(err)
}

// decodeIdem verifies a stored reservation (FuzzDecodeIdem).
func (rs *Store) decodeIdem(key string, b []byte) (*Idem, error) {
	payload, err := rs.signer.Verify(b)
	if err != nil {
		return nil, fmt.Errorf("%w: idempotency record %s: %v", ErrTampered, key, err)
	}
	var rec Idem
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil || rec.Format != idemFormat || rec.Object != key {
		return nil, fmt.Errorf("%w: idempotency record %s is not valid", ErrTampered, key)
	}
	return &rec, nil
}

// PutIdem signs and stores rec at its key (only if absent, with ifAbsent:
// objstore.ErrExists when another request reserved it first).
func (rs *Store) PutIdem(ctx context.Context, rec *Idem, ifAbsent bool) error {
	return rs.putSigned(ctx, rec.Object, rec, ifAbsent, "")
}

// DeleteIdem releases the reservation at key (absent is fine).
func (rs *Store) DeleteIdem(ctx context.Context, key string) error {
	err := rs.store.Delete(context.WithoutCancel(ctx), key)
	if errors.Is(err, objstore.ErrNotFound) {
		return nil
	}
	return err
}
