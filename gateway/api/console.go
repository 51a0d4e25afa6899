package api

import (
	"errors"
	"time"
)

// ConsoleSession is the 200 body of GET /console/session (docs/console.md):
// who is signed in to the web console on this browser, until when, and the
// CSRF token every state-changing console call sends as Liaison-CSRF.
type ConsoleSession struct {
	Gateway string   `json:"gateway"`
	Agency  string   `json:"agency"`
	Officer string   `json:"officer"`
	Roles   []string `json:"roles"`
	// ExpiresAt is the session's absolute end (sign-in + the lifetime, or
	// the token's expiry if sooner); IdleExpiresAt its end if unused.
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	CSRFToken     string    `json:"csrf_token"`
}

// Check implements Response.
func (s *ConsoleSession) Check() error {
	switch {
	case s.Gateway == "" || s.Agency == "" || s.Officer == "":
		return errors.New("console session: gateway, agency and officer are required")
	case s.Roles == nil:
		return errors.New("console session: roles must be a list")
	case s.ExpiresAt.IsZero() || s.IdleExpiresAt.IsZero():
		return errors.New("console session: expires_at and idle_expires_at are required")
	case s.CSRFToken == "":
		return errors.New("console session: csrf_token is required")
	}
	return nil
}
