package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
)

// sessionCookie is the console session's cookie. __Host-: only set over
// HTTPS, by this host, for Path=/, with no Domain; SameSite=Strict: never
// sent on a request another site starts, so a link or form elsewhere
// cannot act with it (the CSRF header and Origin checks are the second
// and third locks).
const sessionCookie = "__Host-liaison-console"

// session is one signed-in officer on one browser.
type session struct {
	key     [32]byte // SHA-256 of the cookie's id: the map key (the id itself is not kept)
	csrf    string
	certFP  string // the client certificate it was created with
	thumb   string
	agency  string
	officer jose.Officer
	token   string // the access token, sent to the API on each call; never logged
	created time.Time
	used    time.Time
	expires time.Time // absolute: created + lifetime, or the token's exp if sooner
}

// sessions are held in memory: a restart signs everyone out. Bounded:
// when full, the session closest to its end is evicted.
type sessions struct {
	mu       sync.Mutex
	m        map[[32]byte]*session
	max      int
	idle     time.Duration
	lifetime time.Duration
}

func newSessions(max int, idle, lifetime time.Duration) *sessions {
	if max <= 0 {
		max = 10000
	}
	return &sessions{m: map[[32]byte]*session{}, max: max, idle: idle, lifetime: lifetime}
}

// randomToken is 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cookieKey decodes a session cookie's value: exactly 32 bytes of
// base64url, else no session.
func cookieKey(v string) ([32]byte, bool) {
	var k [32]byte
	if len(v) != 43 {
		return k, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(b) != 32 {
		return k, false
	}
	return sha256.Sum256(b), true
}

// end is when s ends if unused from now on.
func (s *sessions) end(x *session) time.Time { return minTime(x.used.Add(s.idle), x.expires) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// create stores a new session and returns its cookie value.
func (s *sessions) create(p peer, o jose.Officer, token string, now time.Time) (string, *session) {
	id := randomToken()
	k, _ := cookieKey(id)
	x := &session{key: k, csrf: randomToken(), certFP: p.certFP, thumb: p.thumb, agency: p.agency, officer: o, token: token,
		created: now, used: now, expires: minTime(now.Add(s.lifetime), o.ExpiresAt)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.sweepLocked(now)
	}
	for len(s.m) >= s.max {
		var victim *session
		for _, y := range s.m {
			if victim == nil || s.end(y).Before(s.end(victim)) {
				victim = y
			}
		}
		delete(s.m, victim.key)
	}
	s.m[k] = x
	return id, x
}

func (s *sessions) sweepLocked(now time.Time) {
	for k, x := range s.m {
		if !now.Before(s.end(x)) {
			delete(s.m, k)
		}
	}
}

// Why a cookie is no session (each is audited).
var (
	errNoSession    = errors.New("no console session: sign in")
	errUnknown      = errors.New("the console session is unknown or has ended (a gateway restart signs everyone out)")
	errOtherCert    = errors.New("the console session belongs to another client certificate")
	errSessionEnded = errors.New("the console session has expired: sign in again")
)

// lookup finds the session of r's cookie for the peer, and marks it used.
// A session presented with another certificate is not ended (its owner
// may still be using it) but not given either.
func (s *sessions) lookup(r *http.Request, p peer, now time.Time) (*session, error) {
	var val string
	n := 0
	for _, ck := range r.Cookies() {
		if ck.Name == sessionCookie {
			val = ck.Value
			n++
		}
	}
	if n == 0 {
		return nil, errNoSession
	}
	k, ok := cookieKey(val)
	if n > 1 || !ok {
		return nil, errUnknown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.m[k]
	switch {
	case x == nil:
		return nil, errUnknown
	case subtle.ConstantTimeCompare([]byte(x.certFP), []byte(p.certFP)) != 1:
		return nil, errOtherCert
	case !now.Before(s.end(x)):
		delete(s.m, k)
		return nil, errSessionEnded
	}
	x.used = now
	c := *x
	return &c, nil
}

// remove ends a session.
func (s *sessions) remove(k [32]byte) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// len is the number of sessions held (tests).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// session resolves r's session, auditing and answering 401 when there is
// none (a missing cookie is answered but not audited: it is every page
// load before sign-in).
func (c *Console) session(w http.ResponseWriter, r *http.Request) (*session, peer, bool) {
	p, err := c.clientCert(r)
	if err != nil {
		writeProblem(w, r, http.StatusUnauthorized, "no-client-certificate", "Client certificate required",
			"connect with your agency's client certificate")
		return nil, p, false
	}
	x, err := c.sessions.lookup(r, p, c.o.Now())
	switch {
	case errors.Is(err, errNoSession):
		writeProblem(w, r, http.StatusUnauthorized, "no-session", "Not signed in", err.Error())
		return nil, p, false
	case err != nil:
		if errors.Is(err, errSessionEnded) || errors.Is(err, errUnknown) {
			clearSessionCookie(w)
		}
		c.refuse(w, r, p, actionSession, http.StatusUnauthorized, "no-session", "Not signed in", err.Error())
		return nil, p, false
	}
	return x, p, true
}

// csrf checks a state-changing request against its session.
func csrfOK(r *http.Request, x *session) error {
	if err := sameOrigin(r); err != nil {
		return err
	}
	v := r.Header.Values(headerCSRF)
	if len(v) != 1 || subtle.ConstantTimeCompare([]byte(v[0]), []byte(x.csrf)) != 1 {
		return errors.New("the " + headerCSRF + " header must be the session's csrf_token")
	}
	return nil
}

// sessionInfo is GET /console/session.
func (c *Console) sessionInfo(w http.ResponseWriter, r *http.Request) {
	x, _, ok := c.session(w, r)
	if !ok {
		return
	}
	roles := x.officer.Roles
	if roles == nil {
		roles = []string{}
	}
	writeJSON(w, &api.ConsoleSession{Gateway: c.o.GatewayID, Agency: x.agency, Officer: x.officer.ID, Roles: roles,
		ExpiresAt: x.expires.UTC(), IdleExpiresAt: c.sessions.end(x).UTC(), CSRFToken: x.csrf})
}

// logout is POST /console/logout: CSRF-checked, audited, 204.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	x, p, ok := c.session(w, r)
	if !ok {
		return
	}
	if err := csrfOK(r, x); err != nil {
		c.refuse(w, r, p, actionSignOut, http.StatusForbidden, "csrf", "Cross-site request refused", err.Error())
		return
	}
	c.sessions.remove(x.key)
	clearSessionCookie(w)
	ev := &audit.Event{Operation: audit.OpConsultation, Action: actionSignOut, Status: http.StatusNoContent,
		Agency: x.agency, Officer: x.officer.ID, CertFingerprint: p.certFP}
	// The session has ended whether or not the entry is written; a
	// failed write is logged (audit) and answered 503 so the page says so.
	if err := c.audit(r, w, ev); err != nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable", "Service unavailable", "signed out, but the audit log is unavailable")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
