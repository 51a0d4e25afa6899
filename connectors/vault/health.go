package vault

import (
	"context"
	"fmt"

	"github.com/liaison-project/liaison/connectors/keys"
)

// Health reports whether Vault can serve the gateway's key operations, for
// readiness probes: reachable, initialised and unsealed (sys/health, which
// needs no token and costs Vault nothing), and, with a login method, that
// this provider holds a token. One attempt, bounded by the request
// timeout: a probe must answer quickly, not retry. Callers cache the result
// (the gateway re-checks at most every few seconds).
func (p *Provider) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	h, err := p.loginClient.Sys().HealthWithContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: vault health: %s", keys.ErrUnavailable, vaultMessage(err))
	}
	switch {
	case !h.Initialized:
		return fmt.Errorf("%w: vault is not initialised", keys.ErrUnavailable)
	case h.Sealed:
		return fmt.Errorf("%w: vault is sealed", keys.ErrUnavailable)
	case !p.auth.hasToken.Load():
		return fmt.Errorf("%w: not logged in to vault (login failing; see the process log)", keys.ErrUnavailable)
	}
	return nil
}
