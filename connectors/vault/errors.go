package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/liaison-project/liaison/connectors/keys"
)

// errClass is what a failed Vault call means to the caller.
type errClass int

const (
	classOther     errClass = iota // a definitive answer (bad request etc.)
	classTransient                 // worth another attempt
	classSealed                    // unavailable, but retrying now is pointless
	classDenied                    // 403
	classNotFound                  // the transit key does not exist
)

// notFoundMessages are Vault's words for a missing transit key; transit
// answers 400, not 404, for most of them.
var notFoundMessages = []string{
	"encryption key not found",
	"key not found",
	"no existing key named",
	"invalid key name",
}

func classify(err error) errClass {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		// No HTTP answer at all: connection refused or reset, DNS, TLS
		// handshake, timeout. Transient from where we stand.
		return classTransient
	}
	msg := strings.ToLower(strings.Join(re.Errors, "; "))
	switch {
	case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(msg, "sealed"):
		return classSealed
	case re.StatusCode == http.StatusForbidden:
		return classDenied
	case re.StatusCode == http.StatusNotFound:
		return classNotFound
	case re.StatusCode == http.StatusTooManyRequests,
		re.StatusCode == http.StatusPreconditionFailed, // performance standby not yet caught up
		re.StatusCode == http.StatusRequestTimeout,
		re.StatusCode >= 500:
		return classTransient
	}
	for _, m := range notFoundMessages {
		if strings.Contains(msg, m) {
			return classNotFound
		}
	}
	return classOther
}

// vaultMessage is Vault's own error text, without the request URL or
// anything else of the request; Vault's messages echo no secrets.
func vaultMessage(err error) string {
	var re *api.ResponseError
	if errors.As(err, &re) {
		if len(re.Errors) == 0 {
			return fmt.Sprintf("HTTP %d", re.StatusCode)
		}
		return fmt.Sprintf("HTTP %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err.Error()
}

// call describes one logical Vault operation for retry and error messages.
type call struct {
	op         string // e.g. "generate data key"
	path       string // Vault path, for messages naming a missing capability
	capability string // the policy capability the path needs
}

// backoff returns the pause before attempt n+1 (n ≥ 1): exponential from
// 100ms with full jitter, capped at 1s, so that a few attempts stay well
// inside a request's budget.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << (n - 1)
	if d > time.Second {
		d = time.Second
	}
	return d/2 + rand.N(d/2+1)
}

// do runs fn with a per-attempt timeout, retrying transient failures up to
// MaxAttempts times, and maps the final failure to the keys sentinels.
// On 403 with a login-based auth method it logs in again once (the token
// may have expired between renewals) before reporting permission denied.
func (p *Provider) do(ctx context.Context, c call, fn func(ctx context.Context) (*api.Secret, error)) (*api.Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", keys.ErrUnavailable, c.op, err)
	}
	relogged := false
	for attempt := 1; ; attempt++ {
		if err := p.ensureToken(ctx); err != nil {
			return nil, err
		}
		gen := p.auth.gen.Load()
		actx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		sec, err := fn(actx)
		cancel()
		if err == nil {
			return sec, nil
		}
		if ctx.Err() != nil {
			// The caller gave up; that is not Vault's answer.
			return nil, fmt.Errorf("%w: %s: %w", keys.ErrUnavailable, c.op, ctx.Err())
		}
		switch classify(err) {
		case classSealed:
			return nil, fmt.Errorf("%w: %s: vault is sealed", keys.ErrUnavailable, c.op)
		case classTransient:
			if attempt >= p.cfg.MaxAttempts {
				return nil, fmt.Errorf("%w: %s: gave up after %d attempts: %s", keys.ErrUnavailable, c.op, attempt, vaultMessage(err))
			}
			p.log.Debug("vault call failed; retrying", fieldOp(c.op), fieldAttempt(attempt), fieldError(vaultMessage(err)))
			if !sleepCtx(ctx, backoff(attempt)) {
				return nil, fmt.Errorf("%w: %s: %w", keys.ErrUnavailable, c.op, ctx.Err())
			}
		case classDenied:
			if !relogged && p.canRelogin() {
				relogged = true
				if lerr := p.relogin(ctx, gen); lerr != nil {
					return nil, lerr
				}
				attempt-- // a fresh token is not a retry of a failure
				continue
			}
			return nil, fmt.Errorf("%w: %s: the vault token needs %q on %s, or is expired or revoked (%s)", keys.ErrPermissionDenied, c.op, c.capability, c.path, vaultMessage(err))
		case classNotFound:
			return nil, fmt.Errorf("%w: %s: %s", keys.ErrNotFound, c.op, vaultMessage(err))
		default:
			return nil, &opError{op: c.op, msg: vaultMessage(err), err: err}
		}
	}
}

// sleepCtx pauses for d unless ctx ends first (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// opError is a definitive Vault refusal that is none of the keys sentinels
// (for example an out-of-range version); callers may wrap it in a sentinel.
type opError struct {
	op  string
	msg string
	err error
}

func (e *opError) Error() string { return "vault: " + e.op + ": " + e.msg }
func (e *opError) Unwrap() error { return e.err }
