package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/liaison-project/liaison/gateway/api"
)

// Problem is an RFC 9457 problem detail. Handlers return one (or any error,
// which becomes a 500); one place renders it. The client sees the wire
// body (api.Problem: Title, Detail, ...); the cause stays in the process
// log and the audit entry.
type Problem struct {
	api.Problem

	cause      error
	retryAfter int
}

func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %v", p.Status, p.Title, p.cause)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}

func (p *Problem) Unwrap() error { return p.cause }

func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Problem: api.Problem{Type: api.ProblemTypeBase + slug, Title: title, Status: status, Detail: detail}}
}

func (p *Problem) withCause(err error) *Problem { p.cause = err; return p }

// Common problems. Detail texts are safe to show: they never carry content,
// tokens, or the reasons a policy keeps private.
func errBadRequest(detail string) *Problem {
	return problem(http.StatusBadRequest, "bad-request", "Bad request", detail)
}
func errUnsupportedMediaType(detail string) *Problem {
	return problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", detail)
}
func errNotFound() *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", "no such record, or it is not shared with you")
}
func errUnavailable(what string, cause error) *Problem {
	p := problem(http.StatusServiceUnavailable, "unavailable", "Service unavailable",
		what+" is unavailable; nothing was stored or disclosed, retry later").withCause(cause)
	p.retryAfter = 5
	return p
}
func errInternal(cause error) *Problem {
	return problem(http.StatusInternalServerError, "internal", "Internal error",
		"the request failed; quote the request id to the gateway operator").withCause(cause)
}
func errIntegrity(cause error) *Problem {
	return problem(http.StatusInternalServerError, "integrity", "Integrity check failed",
		"the stored record failed its integrity check and was not served; the operator has been alerted").withCause(cause)
}

// asProblem turns any handler error into a Problem.
func asProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return errInternal(err)
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(p.retryAfter))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="liaison", error="invalid_token"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(&p.Problem)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
