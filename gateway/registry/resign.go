package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// Resign is the registry's part of a gateway signing-key rotation (`liaison
// keys resign`): only the newest version is ever read, so the newest is
// written again, unchanged, as the next version signed by the current key.
// Once every node signs with that key, the previous one can leave
// signing.verify_keys without the registry failing its signature check.
// It returns the new version (0 when the registry holds none).
func Resign(ctx context.Context, store objstore.Store, signer Signer, by Who, now time.Time) (uint64, error) {
	for range maxAttempts {
		r := New(Options{Store: store, Signer: signer, Now: func() time.Time { return now }})
		// Read the newest version without applying it (no policy here).
		last, err := r.newestKey(ctx)
		if err != nil || last == "" {
			return 0, err
		}
		cur, err := r.read(ctx, last)
		if err != nil {
			return 0, err
		}
		next := cur.clone()
		next.Seq, next.Time, next.By = cur.Seq+1, now.UTC(), by
		payload, err := json.Marshal(next)
		if err != nil {
			return 0, err
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			return 0, err
		}
		err = store.Put(ctx, Key(next.Seq), jws, objstore.PutOptions{IfAbsent: true, ContentType: "application/jose"})
		if errors.Is(err, objstore.ErrExists) {
			continue // a change landed meanwhile; it is signed by a current key too, but re-sign the newest
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return next.Seq, nil
	}
	return 0, fmt.Errorf("%w: the registry kept changing; run resign again", ErrUnavailable)
}

// newestKey lists the newest version's key ("" when there is none).
func (r *Registry) newestKey(ctx context.Context) (string, error) {
	last, after := "", ""
	for {
		keys, err := r.o.Store.List(ctx, Prefix, after, 1000)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		for _, k := range keys {
			if _, ok := seqOf(k); ok {
				last = k
			}
		}
		if len(keys) < 1000 {
			return last, nil
		}
		after = keys[len(keys)-1]
	}
}
