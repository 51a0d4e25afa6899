package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"

	"github.com/liaison-project/liaison/connectors/keys"
)

// authState is the Provider's token bookkeeping.
type authState struct {
	mu       sync.Mutex // serialises logins
	secret   *api.Secret
	hasToken atomic.Bool
	gen      atomic.Int64 // bumped by every login, so racing 403s log in once
	logins   atomic.Int64
	renewals atomic.Int64
	notify   chan struct{} // a login happened (buffered 1)
}

// staticToken returns the token of the token method: config, then file,
// then VAULT_TOKEN.
func (p *Provider) staticToken() (string, error) {
	a := p.cfg.Auth
	switch {
	case a.Token != "":
		return a.Token, nil
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return "", configErr("auth.token_file", "%v", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", configErr("auth.token_file", "%s is empty", a.TokenFile)
		}
		return tok, nil
	default:
		if tok := os.Getenv("VAULT_TOKEN"); tok != "" {
			return tok, nil
		}
		return "", configErr("auth.token", "no token configured")
	}
}

// canRelogin reports whether a new token can be obtained without an
// operator: by a login method, or by re-reading a token file that an agent
// keeps fresh.
func (p *Provider) canRelogin() bool {
	return p.cfg.Auth.Method != AuthToken || p.cfg.Auth.TokenFile != ""
}

func (p *Provider) ensureToken(ctx context.Context) error {
	if p.auth.hasToken.Load() {
		return nil
	}
	return p.relogin(ctx, p.auth.gen.Load())
}

// relogin obtains a fresh token unless another goroutine already did since
// generation seen was current.
func (p *Provider) relogin(ctx context.Context, seen int64) error {
	p.auth.mu.Lock()
	defer p.auth.mu.Unlock()
	if p.auth.hasToken.Load() && p.auth.gen.Load() != seen {
		return nil
	}
	sec, err := p.login(ctx)
	if err != nil {
		return err
	}
	p.auth.secret = sec
	p.auth.gen.Add(1)
	p.auth.logins.Add(1)
	p.auth.hasToken.Store(true)
	select {
	case p.auth.notify <- struct{}{}:
	default:
	}
	ttl := 0
	if sec != nil && sec.Auth != nil {
		ttl = sec.Auth.LeaseDuration
	}
	p.log.Info("vault token obtained", fieldMethod(p.cfg.Auth.Method), fieldTTL(ttl))
	return nil
}

// login performs one login (with bounded retries of transient failures)
// and installs the token on p.client. The returned secret carries the
// token's lease for renewal; its Auth may be nil when unknown.
func (p *Provider) login(ctx context.Context) (*api.Secret, error) {
	a := p.cfg.Auth
	loginPath := "auth/" + a.Mount + "/login"
	var once func(ctx context.Context) (*api.Secret, error)
	switch a.Method {
	case AuthToken:
		tok, err := p.staticToken()
		if err != nil {
			return nil, err
		}
		p.client.SetToken(tok)
		loginPath = "auth/token/lookup-self"
		once = func(ctx context.Context) (*api.Secret, error) {
			return p.client.Auth().Token().LookupSelfWithContext(ctx)
		}
	case AuthAppRole:
		secretID := &approle.SecretID{FromString: a.SecretID}
		if a.SecretIDFile != "" {
			// Read here rather than by the approle package so that a
			// missing file is a configuration error, not a retried failure.
			b, err := os.ReadFile(a.SecretIDFile)
			if err != nil {
				return nil, configErr("auth.secret_id_file", "%v", err)
			}
			secretID = &approle.SecretID{FromString: strings.TrimSpace(string(b))}
		}
		ar, err := approle.NewAppRoleAuth(a.RoleID, secretID, approle.WithMountPath(a.Mount))
		if err != nil {
			return nil, configErr("auth", "approle: %v", err)
		}
		once = func(ctx context.Context) (*api.Secret, error) { return ar.Login(ctx, p.loginClient) }
	case AuthKubernetes:
		b, err := os.ReadFile(a.JWTFile)
		if err != nil {
			return nil, configErr("auth.jwt_file", "%v", err)
		}
		jwt := strings.TrimSpace(string(b))
		once = func(ctx context.Context) (*api.Secret, error) {
			return p.loginClient.Logical().WriteWithContext(ctx, loginPath, map[string]any{"role": a.Role, "jwt": jwt})
		}
	}

	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		sec, err := once(actx)
		cancel()
		if err == nil {
			return p.installLogin(sec)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: vault login: %w", keys.ErrUnavailable, ctx.Err())
		}
		switch classify(err) {
		case classSealed:
			return nil, fmt.Errorf("%w: vault login: vault is sealed", keys.ErrUnavailable)
		case classTransient:
			if attempt >= p.cfg.MaxAttempts {
				return nil, fmt.Errorf("%w: vault login: gave up after %d attempts: %s", keys.ErrUnavailable, attempt, vaultMessage(err))
			}
			if !sleepCtx(ctx, backoff(attempt)) {
				return nil, fmt.Errorf("%w: vault login: %w", keys.ErrUnavailable, ctx.Err())
			}
			continue
		default:
			if a.Method == AuthToken {
				return nil, fmt.Errorf("%w: vault token refused at %s: invalid, expired, or without the default policy (%s)", keys.ErrPermissionDenied, loginPath, vaultMessage(err))
			}
			return nil, fmt.Errorf("%w: vault %s login refused at %s (%s)", keys.ErrPermissionDenied, a.Method, loginPath, vaultMessage(err))
		}
	}
}

// installLogin puts a login's token on the client and returns the secret
// whose Auth describes the token's lease.
func (p *Provider) installLogin(sec *api.Secret) (*api.Secret, error) {
	if p.cfg.Auth.Method == AuthToken {
		// sec is the lookup-self answer: turn it into an Auth lease.
		if sec == nil || sec.Data == nil {
			return &api.Secret{}, nil
		}
		ttl, _ := dataInt(sec, "ttl")
		renewable, _ := sec.Data["renewable"].(bool)
		return &api.Secret{Auth: &api.SecretAuth{
			ClientToken:   p.client.Token(),
			Renewable:     renewable,
			LeaseDuration: ttl,
		}}, nil
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%w: vault %s login returned no token", keys.ErrUnavailable, p.cfg.Auth.Method)
	}
	p.client.SetToken(sec.Auth.ClientToken)
	return sec, nil
}

// Start logs in (when the auth method needs it) and keeps the token alive
// in the background until ctx ends or Close is called: a LifetimeWatcher
// renews renewable tokens, and when renewal ends (max TTL, revoked) the
// provider logs in again. A Vault that is unavailable at start is not an
// error — requests fail closed and the background loop keeps trying — but a
// refused login or a bad configuration is.
func (p *Provider) Start(ctx context.Context) error {
	p.running.Lock()
	defer p.running.Unlock()
	if p.running.cancel != nil {
		return errors.New("vault: provider already started")
	}
	if err := p.relogin(ctx, p.auth.gen.Load()); err != nil {
		if !errors.Is(err, keys.ErrUnavailable) {
			return err
		}
		p.log.Warn("vault unavailable at start; will keep trying", fieldError(err.Error()))
	}
	rctx, cancel := context.WithCancel(ctx)
	p.running.cancel = cancel
	p.running.done = make(chan struct{})
	go p.run(rctx, p.running.done)
	return nil
}

// Close stops the background token renewal started by Start. It does not
// revoke the token: other replicas may share an AppRole, and the token
// expires by itself.
func (p *Provider) Close() error {
	p.running.Lock()
	cancel, done := p.running.cancel, p.running.done
	p.running.cancel, p.running.done = nil, nil
	p.running.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	// The provider owns its transports (newClient clones one per client):
	// their idle keep-alive connections, each with two goroutines, end here.
	for _, c := range []*api.Client{p.client, p.loginClient} {
		if tr, ok := c.CloneConfig().HttpClient.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	}
	return nil
}

// run keeps a token alive until ctx ends.
func (p *Provider) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	failures := 0
	for ctx.Err() == nil {
		p.auth.mu.Lock()
		sec := p.auth.secret
		p.auth.mu.Unlock()
		gen := p.auth.gen.Load()

		if sec != nil {
			p.watch(ctx, sec, gen)
			if ctx.Err() != nil {
				return
			}
			if p.auth.gen.Load() != gen {
				continue // a request logged in meanwhile; watch the new token
			}
			if !p.canRelogin() {
				p.log.Error("vault token lifetime ended and cannot be renewed; requests will fail once it expires")
				if !p.waitLogin(ctx, gen, 0) {
					return
				}
				continue
			}
		}
		if err := p.relogin(ctx, gen); err != nil {
			failures++
			p.log.Warn("vault login failed; will retry", fieldError(err.Error()), fieldAttempt(failures))
			pause := time.Duration(min(failures, 5)) * 2 * time.Second
			if !p.waitLogin(ctx, gen, pause) {
				return
			}
			continue
		}
		failures = 0
	}
}

// watch returns when the token described by sec needs replacing, when a
// new login happened, or when ctx ends.
func (p *Provider) watch(ctx context.Context, sec *api.Secret, gen int64) {
	if sec.Auth == nil || sec.Auth.LeaseDuration <= 0 {
		// No expiry known (a root token, or lookup-self not allowed).
		p.waitLogin(ctx, gen, 0)
		return
	}
	if !sec.Auth.Renewable {
		// Log in again at two thirds of the lifetime.
		p.waitLogin(ctx, gen, time.Duration(sec.Auth.LeaseDuration)*time.Second*2/3)
		return
	}
	w, err := p.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: sec})
	if err != nil {
		p.log.Warn("vault token renewal not possible", fieldError(err.Error()))
		return
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-w.DoneCh():
			if err != nil {
				p.log.Warn("vault token renewal stopped", fieldError(err.Error()))
			} else {
				p.log.Info("vault token reached the end of its lifetime")
			}
			return
		case out := <-w.RenewCh():
			p.auth.renewals.Add(1)
			if out != nil && out.Secret != nil && out.Secret.Auth != nil {
				p.log.Debug("vault token renewed", fieldTTL(out.Secret.Auth.LeaseDuration))
			}
		case <-p.auth.notify:
			if p.auth.gen.Load() != gen {
				return
			}
		}
	}
}

// waitLogin waits until a login newer than gen happens (true), the pause
// passes (true; 0 means no limit) or ctx ends (false).
func (p *Provider) waitLogin(ctx context.Context, gen int64, pause time.Duration) bool {
	var timeout <-chan time.Time
	if pause > 0 {
		t := time.NewTimer(pause)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timeout:
			return true
		case <-p.auth.notify:
			if p.auth.gen.Load() != gen {
				return true
			}
		}
	}
}
