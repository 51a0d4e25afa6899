package localkeys

import (
	"context"
	"fmt"
	"os"

	"github.com/liaison-project/liaison/connectors/keys"
)

// Health reports whether the keyring can serve key operations, for
// readiness probes: open (not closed), and its file still there and
// readable, since creating a key or a version rewrites it. The KEKs are
// in memory, so this costs a stat, never a key operation.
func (k *Keyring) Health(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k.mu.RLock()
	closed := k.lock == nil
	k.mu.RUnlock()
	if closed {
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, ErrClosed)
	}
	f, err := os.Open(k.path)
	if err != nil {
		return fmt.Errorf("%w: localkeys: keyring file: %w", keys.ErrUnavailable, err)
	}
	return f.Close()
}
