package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// DefaultJWKSCacheTTL is how long keys fetched from an agency's jwks_url
// are kept at least (longer if the identity provider's Cache-Control or
// Expires says so).
const DefaultJWKSCacheTTL = 15 * time.Minute

// URLKeys fetches the officer-token keys of agencies registered with a
// jwks_url and caches them with expiry (lestrrat-go/jwx's jwk.Cache: it
// refreshes in the background, honours Cache-Control and Expires with a
// floor of the TTL, and keeps the last good set when a refresh fails). A
// fetched set is checked as a jwks file is: public asymmetric keys, each
// with its kid; a set with a private key is refused.
type URLKeys struct {
	cache *jwk.Cache
	ttl   time.Duration
	http  *http.Client
	// urls maps each active agency with a jwks_url to it.
	urls atomic.Pointer[map[string]string]
	mu   sync.Mutex // serialises Register
}

// NewURLKeys returns a cache whose background refreshes run until ctx
// ends. client fetches the sets (nil: a client with a 10s timeout).
func NewURLKeys(ctx context.Context, client *http.Client, ttl time.Duration) *URLKeys {
	if ttl <= 0 {
		ttl = DefaultJWKSCacheTTL
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	// The queue looks for due refreshes every window: at most a minute,
	// and no longer than the TTL, so a set is refreshed soon after it
	// expires (httprc's default window is 15 minutes).
	window := min(ttl, time.Minute)
	u := &URLKeys{cache: jwk.NewCache(ctx, jwk.WithRefreshWindow(window)), ttl: ttl, http: client}
	u.urls.Store(&map[string]string{})
	return u
}

// Apply follows a registry version: the active agencies with a jwks_url.
// A suspended or removed agency's URL is no longer asked.
func (u *URLKeys) Apply(st *State) {
	m := map[string]string{}
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, a := range st.Agencies {
		if a.Status != StatusActive || a.JWKSURL == "" {
			continue
		}
		m[id] = a.JWKSURL
		if !u.cache.IsRegistered(a.JWKSURL) {
			_ = u.cache.Register(a.JWKSURL, jwk.WithMinRefreshInterval(u.ttl), jwk.WithHTTPClient(u.http),
				jwk.WithPostFetcher(jwk.PostFetchFunc(checkFetched)))
		}
	}
	u.urls.Store(&m)
}

// KeySet is a jose.KeySource: the cached set of an agency registered with a
// jwks_url (fetched on first use).
func (u *URLKeys) KeySet(ctx context.Context, agency string) (jwk.Set, bool, error) {
	url, ok := (*u.urls.Load())[agency]
	if !ok {
		return nil, false, nil
	}
	set, err := u.cache.Get(ctx, url)
	if err != nil {
		return nil, false, fmt.Errorf("registry: officer-token keys of %s: %w", agency, err)
	}
	return set, true, nil
}

var _ jose.KeySource = (*URLKeys)(nil).KeySet

// checkFetched refuses a fetched set that would not pass as a jwks file.
func checkFetched(_ string, set jwk.Set) (jwk.Set, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	return jose.ParsePublicKeySet(b)
}
