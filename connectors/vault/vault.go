// Package vault implements Liaison's key provider (keys.Provider and
// keys.Manager) on HashiCorp Vault's Transit secrets engine.
//
// Each keys.Provider name maps to one transit key (KEK) through
// Config.KeyNamePattern, so that rotation, rewrap and crypto-shredding act on
// one originator agency or DSA at a time. Data keys come from
// transit/datakey/plaintext and are unwrapped through transit/decrypt; the
// KEKs never leave Vault.
//
// Failure policy: transient failures (5xx, 429, connection errors,
// timeouts) are retried a bounded number of times, then the call fails
// closed with keys.ErrUnavailable; a sealed Vault is ErrUnavailable at once;
// 403 is keys.ErrPermissionDenied naming the path and capability missing.
// The Provider recovers by itself when Vault comes back: nothing is cached
// across failures that would need a new Provider.
package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/keys"
)

// Compile-time guards.
var (
	_ keys.Provider       = (*Provider)(nil)
	_ keys.Manager        = (*Provider)(nil)
	_ keys.WrappedVersion = (*Provider)(nil)
)

// dataKeyBytes is the size of a data key: AES-256.
const dataKeyBytes = 32

// rewrapBatchSize bounds one batch rewrap request, well inside Vault's
// default request-size limit.
const rewrapBatchSize = 250

// Log field names, constant so that dashboards and alerts can rely on them.
const (
	logOp      = "op"
	logAttempt = "attempt"
	logError   = "error"
	logMethod  = "auth_method"
	logTTL     = "ttl_seconds"
)

func fieldOp(op string) zap.Field     { return zap.String(logOp, op) }
func fieldAttempt(n int) zap.Field    { return zap.Int(logAttempt, n) }
func fieldError(msg string) zap.Field { return zap.String(logError, msg) }
func fieldMethod(m string) zap.Field  { return zap.String(logMethod, m) }
func fieldTTL(seconds int) zap.Field  { return zap.Int(logTTL, seconds) }

// Provider is a keys.Provider and keys.Manager on Vault Transit. It is safe
// for concurrent use. Call Start to keep its token alive and Close to stop.
type Provider struct {
	cfg         Config
	client      *api.Client // authenticated calls
	loginClient *api.Client // logins: never carries a token
	log         *zap.Logger

	auth    authState
	running struct {
		sync.Mutex
		cancel context.CancelFunc
		done   chan struct{}
	}
}

// New validates cfg and builds a Provider. It does no I/O: with the token
// method requests work at once; with a login method the first request (or
// Start) logs in. log may be nil.
func New(cfg Config, log *zap.Logger) (*Provider, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	loginClient, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, client: client, loginClient: loginClient, log: log}
	p.auth.notify = make(chan struct{}, 1)
	if cfg.Auth.Method == AuthToken {
		tok, err := p.staticToken()
		if err != nil {
			return nil, err
		}
		p.client.SetToken(tok)
		p.auth.hasToken.Store(true)
	}
	return p, nil
}

// newClient builds a Vault API client that reads nothing from VAULT_*
// variables that could weaken TLS, and does no retries of its own: retries
// are decided in one place (Provider.do) so that they stay bounded.
func newClient(cfg Config) (*api.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, configErr("ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configErr("ca_file", "no PEM certificates in %s", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	// Unwraps arrive in bursts from concurrent reads; keep connections warm.
	tr.MaxIdleConnsPerHost = 32
	hc := &http.Client{
		Transport: tr,
		// Vault answers standby redirects itself; the API client follows
		// one redirect when this refuses them (as api.DefaultConfig does).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		HttpClient: hc,
		MaxRetries: 0,
		Timeout:    cfg.RequestTimeout,
	})
	if err != nil {
		return nil, configErr("address", "%v", err)
	}
	// api.NewClient picks up VAULT_TOKEN and VAULT_NAMESPACE; the config
	// decides instead.
	c.ClearToken()
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	} else {
		c.ClearNamespace()
	}
	return c, nil
}

// transitKey maps a provider key name to the transit key name.
func (p *Provider) transitKey(name string) (string, error) {
	if !keys.ValidName(name) {
		return "", fmt.Errorf("%w: invalid key name %q", keys.ErrNotFound, name)
	}
	return strings.ReplaceAll(p.cfg.KeyNamePattern, "{name}", name), nil
}

func (p *Provider) path(parts ...string) string {
	return p.cfg.Mount + "/" + strings.Join(parts, "/")
}

// GenerateDataKey returns a fresh AES-256 data key and its wrapped form
// ("vault:vN:…") from transit/datakey/plaintext/<key>. A missing KEK is
// created first when Config.AutoCreate is set.
func (p *Provider) GenerateDataKey(ctx context.Context, name string) (keys.DataKey, error) {
	key, err := p.transitKey(name)
	if err != nil {
		return keys.DataKey{}, err
	}
	path := p.path("datakey", "plaintext", key)
	c := call{op: "generate data key", path: path, capability: "update"}
	gen := func() (*api.Secret, error) {
		return p.do(ctx, c, func(ctx context.Context) (*api.Secret, error) {
			return p.client.Logical().WriteWithContext(ctx, path, map[string]any{"bits": dataKeyBytes * 8})
		})
	}
	sec, err := gen()
	if errors.Is(err, keys.ErrNotFound) && p.cfg.AutoCreate {
		if cerr := p.create(ctx, key); cerr != nil {
			return keys.DataKey{}, cerr
		}
		sec, err = gen()
	}
	if err != nil {
		return keys.DataKey{}, err
	}
	ct, _ := dataString(sec, "ciphertext")
	pt, _ := dataString(sec, "plaintext")
	if !strings.HasPrefix(ct, "vault:v") || pt == "" {
		return keys.DataKey{}, fmt.Errorf("vault: generate data key: malformed response from %s", path)
	}
	plain, err := base64.StdEncoding.DecodeString(pt)
	if err != nil || len(plain) != dataKeyBytes {
		return keys.DataKey{}, fmt.Errorf("vault: generate data key: malformed plaintext key from %s", path)
	}
	return keys.DataKey{Plaintext: plain, Wrapped: []byte(ct)}, nil
}

// create makes the transit key (idempotent in Vault, so replicas racing to
// create the same key both succeed).
func (p *Provider) create(ctx context.Context, key string) error {
	path := p.path("keys", key)
	_, err := p.do(ctx, call{op: "create key", path: path, capability: "create"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, path, map[string]any{"type": p.cfg.KeyType})
	})
	if err != nil {
		return err
	}
	p.log.Info("created transit key", zap.String("key", key))
	return nil
}

// UnwrapDataKey decrypts wrapped through transit/decrypt/<key>.
func (p *Provider) UnwrapDataKey(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	key, err := p.transitKey(name)
	if err != nil {
		return nil, err
	}
	if _, err := parseVersion(wrapped); err != nil {
		return nil, err
	}
	path := p.path("decrypt", key)
	sec, err := p.do(ctx, call{op: "unwrap data key", path: path, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, path, map[string]any{"ciphertext": string(wrapped)})
	})
	if err != nil {
		return nil, asInvalidCiphertext(err)
	}
	pt, _ := dataString(sec, "plaintext")
	plain, err := base64.StdEncoding.DecodeString(pt)
	if err != nil || len(plain) != dataKeyBytes {
		// Authentic under this KEK but not one of our data keys.
		return nil, fmt.Errorf("%w: not a %d-byte data key", keys.ErrInvalidCiphertext, dataKeyBytes)
	}
	return plain, nil
}

// asInvalidCiphertext turns Vault's definitive refusals of a ciphertext
// ("invalid ciphertext…", "message authentication failed", "…disallowed by
// policy (too old)", "version is too new") into keys.ErrInvalidCiphertext:
// the inputs other than the ciphertext are ours, so a 400 is about it.
func asInvalidCiphertext(err error) error {
	var oe *opError
	if errors.As(err, &oe) {
		// Vault's wording for a version below min_decryption_version: the
		// key is not corrupt, it has been shredded.
		if strings.Contains(oe.msg, "disallowed by policy") || strings.Contains(oe.msg, "too old") {
			return fmt.Errorf("%w: %s", keys.ErrShredded, oe.msg)
		}
		return fmt.Errorf("%w: %s", keys.ErrInvalidCiphertext, oe.msg)
	}
	return err
}

// Rotate adds a KEK version (transit/keys/<key>/rotate).
func (p *Provider) Rotate(ctx context.Context, name string) error {
	key, err := p.transitKey(name)
	if err != nil {
		return err
	}
	path := p.path("keys", key, "rotate")
	_, err = p.do(ctx, call{op: "rotate key", path: path, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, path, nil)
	})
	return err
}

// Rewrap re-wraps wrapped under the newest KEK version inside Vault
// (transit/rewrap/<key>); the plaintext never leaves Vault.
func (p *Provider) Rewrap(ctx context.Context, name string, wrapped []byte) ([]byte, error) {
	key, err := p.transitKey(name)
	if err != nil {
		return nil, err
	}
	if _, err := parseVersion(wrapped); err != nil {
		return nil, err
	}
	path := p.path("rewrap", key)
	sec, err := p.do(ctx, call{op: "rewrap data key", path: path, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, path, map[string]any{"ciphertext": string(wrapped)})
	})
	if err != nil {
		return nil, asInvalidCiphertext(err)
	}
	ct, _ := dataString(sec, "ciphertext")
	if !strings.HasPrefix(ct, "vault:v") {
		return nil, fmt.Errorf("vault: rewrap: malformed response from %s", path)
	}
	return []byte(ct), nil
}

// BatchError reports the items of a RewrapBatch that Vault refused; the
// other items were rewrapped. It wraps keys.ErrInvalidCiphertext.
type BatchError struct {
	// Failed maps an input index to Vault's reason for that item.
	Failed map[int]string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("vault: rewrap batch: %d item(s) cannot be unwrapped", len(e.Failed))
}

// Unwrap makes errors.Is(err, keys.ErrInvalidCiphertext) hold.
func (e *BatchError) Unwrap() error { return keys.ErrInvalidCiphertext }

// RewrapBatch rewraps many wrapped keys with transit/rewrap's batch_input,
// in chunks, for `liaison keys rewrap`. out[i] is the rewrapped form of
// wrapped[i]. When some items fail, the others are still returned (failed
// ones are nil) together with a *BatchError; any other error (unavailable,
// denied, key not found) fails the whole call.
func (p *Provider) RewrapBatch(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error) {
	key, err := p.transitKey(name)
	if err != nil {
		return nil, err
	}
	path := p.path("rewrap", key)
	out := make([][]byte, len(wrapped))
	failed := map[int]string{}
	for start := 0; start < len(wrapped); start += rewrapBatchSize {
		end := min(start+rewrapBatchSize, len(wrapped))
		var (
			input []map[string]any
			index []int // input position → wrapped index
		)
		for i := start; i < end; i++ {
			if _, err := parseVersion(wrapped[i]); err != nil {
				failed[i] = "not a Vault transit ciphertext"
				continue
			}
			input = append(input, map[string]any{"ciphertext": string(wrapped[i])})
			index = append(index, i)
		}
		if len(input) == 0 {
			continue
		}
		sec, err := p.do(ctx, call{op: "rewrap batch", path: path, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
			// 200 on partial failure, so that per-item results come back;
			// Vault still answers 400 when every item fails.
			return p.client.Logical().WriteWithContext(ctx, path, map[string]any{
				"batch_input":                   input,
				"partial_failure_response_code": http.StatusOK,
			})
		})
		if err != nil {
			var oe *opError
			if errors.As(err, &oe) {
				for _, i := range index {
					failed[i] = oe.msg
				}
				continue
			}
			return nil, err
		}
		results, ok := sec.Data["batch_results"].([]any)
		if !ok || len(results) != len(input) {
			return nil, fmt.Errorf("vault: rewrap batch: malformed response from %s", path)
		}
		for j, r := range results {
			item, _ := r.(map[string]any)
			if msg, _ := item["error"].(string); msg != "" {
				failed[index[j]] = msg
				continue
			}
			ct, _ := item["ciphertext"].(string)
			if !strings.HasPrefix(ct, "vault:v") {
				failed[index[j]] = "malformed result"
				continue
			}
			out[index[j]] = []byte(ct)
		}
	}
	if len(failed) > 0 {
		return out, &BatchError{Failed: failed}
	}
	return out, nil
}

// Info reads transit/keys/<key>.
func (p *Provider) Info(ctx context.Context, name string) (keys.KeyInfo, error) {
	key, err := p.transitKey(name)
	if err != nil {
		return keys.KeyInfo{}, err
	}
	path := p.path("keys", key)
	sec, err := p.do(ctx, call{op: "read key", path: path, capability: "read"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().ReadWithContext(ctx, path)
	})
	if err != nil {
		return keys.KeyInfo{}, err
	}
	if sec == nil || sec.Data == nil {
		return keys.KeyInfo{}, fmt.Errorf("%w: %s", keys.ErrNotFound, path)
	}
	latest, err1 := dataInt(sec, "latest_version")
	minDec, err2 := dataInt(sec, "min_decryption_version")
	if err := errors.Join(err1, err2); err != nil {
		return keys.KeyInfo{}, fmt.Errorf("vault: read key: malformed response from %s: %w", path, err)
	}
	return keys.KeyInfo{Name: name, LatestVersion: latest, MinDecryptionVersion: minDec}, nil
}

// ErrVersion is wrapped when SetMinDecryptionVersion is asked for a version
// that does not exist or would un-shred older ones.
var ErrVersion = errors.New("vault: invalid key version")

// SetMinDecryptionVersion raises min_decryption_version and then trims the
// older key versions out of Vault (transit/keys/<key>/trim), so that data
// keys wrapped under them are gone for good, not merely refused: lowering
// min_decryption_version again cannot bring them back. It refuses to lower
// the minimum (ErrVersion) and is a no-op when version is already the minimum.
func (p *Provider) SetMinDecryptionVersion(ctx context.Context, name string, version int) error {
	key, err := p.transitKey(name)
	if err != nil {
		return err
	}
	info, err := p.Info(ctx, name)
	if err != nil {
		return err
	}
	switch {
	case version < 1 || version > info.LatestVersion:
		return fmt.Errorf("%w: version %d of %s (latest is %d)", ErrVersion, version, name, info.LatestVersion)
	case version < info.MinDecryptionVersion:
		return fmt.Errorf("%w: version %d is below the current minimum %d of %s; shredded versions cannot return", ErrVersion, version, info.MinDecryptionVersion, name)
	}
	cfgPath := p.path("keys", key, "config")
	_, err = p.do(ctx, call{op: "set min decryption version", path: cfgPath, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		// Trimming requires min_encryption_version to be set and ≥ the
		// trimmed version; encryption uses the latest version anyway.
		return p.client.Logical().WriteWithContext(ctx, cfgPath, map[string]any{
			"min_decryption_version": version,
			"min_encryption_version": version,
		})
	})
	if err != nil {
		return err
	}
	trimPath := p.path("keys", key, "trim")
	_, err = p.do(ctx, call{op: "trim key versions", path: trimPath, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, trimPath, map[string]any{"min_available_version": version})
	})
	return err
}

// Delete destroys the transit key: it allows deletion in the key's config,
// then deletes it. Every data key wrapped under it becomes unrecoverable.
func (p *Provider) Delete(ctx context.Context, name string) error {
	key, err := p.transitKey(name)
	if err != nil {
		return err
	}
	cfgPath := p.path("keys", key, "config")
	_, err = p.do(ctx, call{op: "allow key deletion", path: cfgPath, capability: "update"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().WriteWithContext(ctx, cfgPath, map[string]any{"deletion_allowed": true})
	})
	if err != nil {
		return err
	}
	path := p.path("keys", key)
	_, err = p.do(ctx, call{op: "delete key", path: path, capability: "delete"}, func(ctx context.Context) (*api.Secret, error) {
		return p.client.Logical().DeleteWithContext(ctx, path)
	})
	return err
}

// WrappedVersion returns N of a "vault:vN:…" wrapped key without a call to
// Vault, so that rewrap can skip keys that are already current.
func (p *Provider) WrappedVersion(wrapped []byte) (int, error) {
	return parseVersion(wrapped)
}

func parseVersion(wrapped []byte) (int, error) {
	s := string(wrapped)
	rest, ok := strings.CutPrefix(s, "vault:v")
	if !ok {
		return 0, fmt.Errorf("%w: not a Vault transit ciphertext", keys.ErrInvalidCiphertext)
	}
	num, body, ok := strings.Cut(rest, ":")
	if !ok || body == "" || len(num) > 9 {
		return 0, fmt.Errorf("%w: not a Vault transit ciphertext", keys.ErrInvalidCiphertext)
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 || strconv.Itoa(v) != num {
		return 0, fmt.Errorf("%w: bad key version in Vault transit ciphertext", keys.ErrInvalidCiphertext)
	}
	return v, nil
}

func dataString(sec *api.Secret, field string) (string, bool) {
	if sec == nil || sec.Data == nil {
		return "", false
	}
	s, ok := sec.Data[field].(string)
	return s, ok
}

func dataInt(sec *api.Secret, field string) (int, error) {
	if sec == nil || sec.Data == nil {
		return 0, fmt.Errorf("no %s", field)
	}
	switch v := sec.Data[field].(type) {
	case json.Number:
		n, err := v.Int64()
		return int(n), err
	case float64:
		return int(v), nil
	case int:
		return v, nil
	default:
		return 0, fmt.Errorf("no %s", field)
	}
}

// loginCount is the number of successful logins (tests observe renewal).
func (p *Provider) loginCount() int64 { return p.auth.logins.Load() }
