// Package httpapi is Liaison's agency API over HTTP: routes, the
// middleware every request passes (edge refusals, identity from the client
// certificate and the officer's JWT, rate limits, request context), the
// handlers, the audit entry each request leaves (assembled in one place,
// audit.go), and RFC 9457 problem+json rendering. It keeps records only
// through gateway/recordstore and decides only through the policy engine.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/tracing"
	"github.com/liaison-project/liaison/policy"
)

// PolicyEngine is what the gateway needs from the policy layer.
type PolicyEngine interface {
	Decide(ctx context.Context, in policy.Input) (policy.Decision, error)
	// DecideJSON decides an officer's hand-written input as written (the
	// /v1/decisions dry run).
	DecideJSON(ctx context.Context, input []byte) (policy.Decision, error)
	Agency(id string) (policy.Agency, bool)
	Revision() string
}

// OfficerVerifier checks officer tokens (crypto/jose).
type OfficerVerifier interface {
	Verify(ctx context.Context, raw, agencyID, certThumbprint string, now time.Time) (jose.Officer, error)
}

// Deps are the gateway's collaborators, built by Build from a config.Config, or by tests.
type Deps struct {
	Log      *zap.Logger
	Policy   PolicyEngine
	Officers OfficerVerifier
	Store    objstore.Store
	Keys     recordstore.DataKeys
	Signer   Signer
	Audit    audit.Writer
	// Index is the query and selector index database.
	Index index.Backend
	// Blinder turns selectors into blind index values (gateway/search).
	Blinder recordstore.Blinder
	// Keyring holds the blind-index keys searches look selectors up with.
	Keyring Keyring
	// Ready lists extra readiness checks for /readyz (audit writer, TLS reloader…).
	Ready map[string]func(context.Context) error
	Now   func() time.Time
	// BundledPolicy says that Policy evaluates the policy library bundled
	// in the binary (no policy directory or bundle configured): what
	// listing pages need to share decisions (listshare.go). False for an
	// engine the server cannot vouch for.
	BundledPolicy bool
}

// Signer signs consent receipts (jose.Signer).
type Signer = recordstore.Signer

// Records is the record store the server keeps records in (the
// composition root recovers its index before serving).
func (s *Server) Records() *recordstore.Store { return s.records }

// Server is the agency API of one gateway.
type Server struct {
	cfg config.Config
	// listShare: listing pages decide once per distinct decision input
	// (listshare.go); listReference turns that off at run time, for the
	// equivalence test and the same-run benchmark.
	listShare     bool
	listReference atomic.Bool
	log           *zap.Logger
	policy        PolicyEngine
	off           OfficerVerifier
	records       *recordstore.Store
	// signer signs consent receipts (the record store signs what it stores).
	signer  Signer
	audit   audit.Writer
	metrics *metrics
	ready   map[string]func(context.Context) error
	now     func() time.Time

	requireOfficer map[string]bool
	limMu          sync.Mutex
	limiters       map[string]*rate.Limiter

	// fed is the federation (nil: this gateway does not federate).
	fed Federation

	// edge audits refusals that never reach an endpoint (edge.go).
	edge *edgeState

	keyring  Keyring
	searches *searchState

	// hitRef is the key search hit references are sealed under (hitref.go).
	hitRefOnce sync.Once
	hitRef     []byte

	// reviewWin is the MoPI review window of the policy revision last read
	// (review.go).
	reviewWin atomic.Pointer[reviewWindowCache]

	// registry is the registry of agencies and agreements (registry.go);
	// nil: no registry API, no suspensions.
	registry Registry

	// provers keeps the audit log's prover for GET /v1/audit/proof (oversight.go).
	provers proverCache
	// started is when the server was built, just after the policy engine
	// loaded: the load time of the revision the gateway started with,
	// which no reload entry records (GET /v1/policy).
	started time.Time
}

// NewServer wires a gateway from its configuration and collaborators.
func NewServer(cfg config.Config, d Deps) (*Server, error) {
	if d.Policy == nil || d.Store == nil || d.Keys == nil || d.Signer == nil || d.Audit == nil {
		return nil, errors.New("gateway: policy, store, keys, signer and audit are required")
	}
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		cfg: cfg, log: d.Log.Named("gateway"), policy: d.Policy, off: d.Officers, audit: d.Audit, signer: d.Signer,
		metrics: newMetrics(), ready: d.Ready, now: d.Now, keyring: d.Keyring,
		requireOfficer: map[string]bool{}, limiters: map[string]*rate.Limiter{},
	}
	s.listShare = d.BundledPolicy && bundledListShareSafe()
	s.started = d.Now().UTC()
	// Every path that loads or opens a stored object (read, list, share,
	// consent, idempotent replay) counts integrity failures in one place:
	// the record store.
	s.searches = newSearchState(s.metrics.reg)
	s.records = recordstore.New(recordstore.Options{
		Objects: d.Store, Keys: d.Keys, Signer: d.Signer, Now: d.Now, Log: d.Log,
		KeyName: func(m *record.Meta) string {
			return config.KeyName(cfg.Keys.NamePattern, m.Originator.OrgID, firstDSA(m))
		},
		Index:    d.Index,
		Blinder:  d.Blinder,
		Tampered: s.metrics.integrityFailures.Inc,
		IndexWritten: func(entries int, err error) {
			if err != nil {
				s.metrics.indexWrites.WithLabelValues("error").Inc()
				return
			}
			s.metrics.indexWrites.WithLabelValues("ok").Inc()
			s.metrics.indexEntries.Add(float64(entries))
		},
	})
	s.edge = newEdgeState(s)
	s.metrics.reg.MustRegister(newOverdueCollector(s))
	s.metrics.reg.MustRegister(readinessCollector{s})
	for _, a := range cfg.Officers.RequireFor {
		s.requireOfficer[a] = true
	}
	return s, nil
}

// Handler is the agency API: every request passes through these layers,
// outermost first, in exactly this order.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		if rt.registry && s.registry == nil {
			continue // a server built without the registry (unit tests)
		}
		mux.Handle(rt.Pattern(), s.endpoint(rt.action, rt.handler))
	}
	mux.Handle("/", s.endpoint("unknown", func(http.ResponseWriter, *http.Request, *reqCtx) error {
		return problem(http.StatusNotFound, "no-route", "Not found", "no such endpoint")
	}))
	return chain(mux,
		s.markHandled,       // from here the response is the handler's, not net/http's (edge.go)
		s.recoverPanics,     // a panic becomes a 500 problem, never a half-written response
		s.requestContext,    // request id, clock, deadline
		s.observe,           // metrics and one process-log line per request
		s.rejectUncleanPath, // "..", "//", "*": 400 problem, not the mux's redirect (edge.go)
	)
}

// Route is one endpoint the agency API registers: the method and path of
// its ServeMux pattern. The OpenAPI document's test compares Routes with
// the document's operations, both ways (gateway/gatewaytest).
type Route struct {
	Method string
	Path   string
	// Query is every query parameter the endpoint accepts (any other is a
	// 400), for an endpoint that reads the query: the list its handler
	// checks, so the document's test compares against what is enforced.
	Query []string
}

// Pattern is the ServeMux pattern ("GET /v1/records/{id}").
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// route is a Route with what serves it.
type route struct {
	Route
	action  string
	handler handlerFunc
	// registry: served only when the server has a registry (UseRegistry).
	registry bool
}

// routes is the agency API's routing table: Handler registers exactly
// these, and Routes lists them, so the list cannot drift from the mux.
func (s *Server) routes() []route {
	r := func(method, path, action string, h handlerFunc, query ...string) route {
		return route{Route: Route{Method: method, Path: path, Query: query}, action: action, handler: h}
	}
	return append([]route{
		r("POST", "/v1/records", string(policy.ActionPublish), s.publish),
		r("GET", "/v1/records", string(policy.ActionList), s.list, api.ListParams...),
		r("GET", "/v1/records/{id}", string(policy.ActionRead), s.read),
		r("DELETE", "/v1/records/{id}", string(policy.ActionRecall), s.recall),
		r("POST", "/v1/records/{id}/review", string(policy.ActionReview), s.review),
		r("POST", "/v1/decisions", string(policy.ActionDecide), s.decisions),
		r("GET", "/v1/audit", string(policy.ActionAuditQuery), s.auditQuery, auditQueryParams...),
		r("GET", "/v1/audit/proof", string(policy.ActionAuditQuery), s.auditProof, auditProofParams...),
		r("GET", "/v1/audit/stats", string(policy.ActionAuditQuery), s.auditStats, auditStatsParams...),
		r("POST", "/v1/audit/evidence", string(policy.ActionAuditQuery), s.auditEvidence),
		r("GET", "/v1/policy", string(policy.ActionPolicyInspect), s.policyStatus),
		r("GET", "/v1/policy/reloads", string(policy.ActionPolicyInspect), s.policyReloads),
		r("GET", "/v1/policy/shadow", string(policy.ActionPolicyInspect), s.policyShadow),
		r("POST", "/v1/records/{id}/shares", string(policy.ActionShare), s.share),
		r("GET", "/v1/records/{id}/deliveries", "record.deliveries", s.deliveries),
		r("POST", "/v1/search", "record.search", s.search),
		r("GET", "/v1/consents", "consent.list", s.listConsents, consentListParams...),
		r("POST", "/v1/consents/{id}/approve", "consent.approve", s.approveConsent),
		r("POST", "/v1/consents/{id}/refuse", "consent.refuse", s.refuseConsent),
		r("POST", "/v1/requests", string(policy.ActionFileRequest), s.fileRequest),
		r("GET", "/v1/requests", "request.list", s.listRequests, requestListParams...),
		r("GET", "/v1/requests/{id}", "request.read", s.getRequest),
		r("POST", "/v1/requests/{id}/answer", "request.answer", s.answerRequest),
		r("POST", "/v1/requests/{id}/detail", "request.detail", s.detailRequest),
		r("POST", "/v1/requests/{id}/withdraw", "request.withdraw", s.withdrawRequest),
	}, s.registryRouteTable()...)
}

// Routes lists the agency API's endpoints (without the catch-all that
// answers 404 no-route).
func Routes() []Route {
	var out []Route
	for _, rt := range (&Server{}).routes() {
		out = append(out, rt.Route)
	}
	return out
}

// endpoint runs the per-request steps that need to know the action, in
// order: identity → rate limit → request context headers → body limit →
// handler. Any failure is audited (once the client is known) and rendered.
func (s *Server) endpoint(action string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := fromContext(r.Context())
		rc.action = action
		// Route and method belong to every entry this request writes,
		// refusals included, so they are set before anything can fail.
		rc.method, rc.route = r.Method, routeOf(r.Pattern)
		err := s.authenticate(r, rc)
		if err == nil {
			err = s.rateLimit(rc)
		}
		if err == nil {
			err = readContextHeaders(r, rc)
		}
		if err == nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBodyBytes)
			err = h(w, r, rc)
		}
		if err != nil {
			s.fail(w, r, rc, err)
		}
	})
}

type handlerFunc func(http.ResponseWriter, *http.Request, *reqCtx) error

// routeOf is the path part of a ServeMux pattern ("GET /v1/records/{id}" →
// "/v1/records/{id}"): a bounded label for metrics and the audit log, never
// the request's own path, which may carry identifiers. The catch-all
// pattern and requests that matched none are "other".
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		pattern = pattern[i+1:]
	}
	if pattern == "" || pattern == "/" {
		return "other"
	}
	return pattern
}

func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// reqCtx is the request-scoped state every step reads and adds to.
type reqCtx struct {
	id      string
	start   time.Time
	action  string
	method  string
	route   string
	agency  string
	officer *jose.Officer
	certFP  string
	thumb   string

	purpose, justification, caseRef string

	recordIDs []string
	// infoRequestID is the request for information the request acts on
	// (requests.go), for every audit entry it writes.
	infoRequestID string
	originator    string
	// controller is the controller accountable for the record (DPA 2018
	// s.62 good practice): its originating agency.
	controller string
	// handling is the record's handling codes as the policy saw them.
	handling   json.RawMessage
	recipients []string
	dsaIDs     []string
	// registry is the registry entry a registry request is about.
	registry *audit.Registry
	decision *policy.Decision
	audited  bool
}

type ctxKey struct{}

func fromContext(ctx context.Context) *reqCtx {
	rc, _ := ctx.Value(ctxKey{}).(*reqCtx)
	if rc == nil {
		rc = &reqCtx{}
	}
	return rc
}

func (s *Server) requestContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{id: audit.NewRequestID(), start: s.now()}
		w.Header().Set("Liaison-Request-Id", rc.id)
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Limits.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, rc)))
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				rc := fromContext(r.Context())
				s.fail(w, r, rc, errInternal(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// authenticate establishes who is calling: the agency named by the verified
// client certificate (the TLS layer has already checked chain, usage and
// revocation), known to the registry; and, when a token is presented or
// required, the officer it names, who must belong to that same agency.
func (s *Server) authenticate(r *http.Request, rc *reqCtx) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return problem(http.StatusUnauthorized, "no-client-certificate", "Client certificate required",
			"connect with your agency's client certificate")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	rc.certFP = pki.CertFingerprint(leaf)
	rc.thumb = pki.CertThumbprintS256(leaf)
	agency, err := pki.AgencyFromCert(leaf, s.cfg.TrustDomain)
	if err != nil {
		return problem(http.StatusForbidden, "unknown-agency", "Unknown agency",
			"the client certificate does not name an agency of this federation").withCause(err)
	}
	rc.agency = agency
	a, ok := s.policy.Agency(agency)
	if !ok {
		return problem(http.StatusForbidden, "unknown-agency", "Unknown agency",
			"agency "+agency+" is not in this gateway's registry")
	}
	if s.registry != nil {
		chain := r.TLS.VerifiedChains[0]
		if !s.registry.AnchorAllows(pki.CertFingerprint(chain[len(chain)-1]), agency) {
			// An agency's own CA speaks for that agency only.
			return problem(http.StatusForbidden, "unknown-agency", "Unknown agency",
				"the client certificate was issued by another agency's CA than "+agency+"'s")
		}
		if s.registry.Suspended(agency) {
			return problem(http.StatusForbidden, "agency-suspended", "Agency suspended",
				"agency "+agency+" is suspended in this gateway's registry; its requests are refused until it is reactivated")
		}
	}
	// Two Authorization headers are ambiguous (Get would read only the
	// first, a proxy might forward only the last): refuse, never pick one.
	if len(r.Header.Values("Authorization")) > 1 {
		return errBadRequest("send at most one Authorization header")
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if s.requireOfficer[agency] || a.RequireOfficerToken {
			return problem(http.StatusUnauthorized, "officer-token-required", "Officer token required",
				"agency "+agency+" must identify the officer: send Authorization: Bearer <token>")
		}
		return nil
	}
	scheme, tok, ok := strings.Cut(authz, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return problem(http.StatusUnauthorized, "invalid-officer-token", "Invalid officer token", "Authorization must be: Bearer <token>")
	}
	if s.off == nil {
		return problem(http.StatusUnauthorized, "invalid-officer-token", "Invalid officer token", "this gateway accepts no officer tokens")
	}
	o, err := s.off.Verify(r.Context(), tok, agency, rc.thumb, s.now())
	if err != nil {
		// The verifier's message says what was wrong (expired, wrong agency,
		// bad signature) and never echoes the token.
		return problem(http.StatusUnauthorized, "invalid-officer-token", "Invalid officer token", err.Error()).withCause(err)
	}
	rc.officer = &o
	return nil
}

func (s *Server) rateLimit(rc *reqCtx) error {
	if s.cfg.Limits.RatePerAgency <= 0 {
		return nil
	}
	s.limMu.Lock()
	l, ok := s.limiters[rc.agency]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.cfg.Limits.RatePerAgency), s.cfg.Limits.Burst)
		s.limiters[rc.agency] = l
	}
	s.limMu.Unlock()
	if !l.Allow() {
		p := problem(http.StatusTooManyRequests, "rate-limited", "Too many requests", "your agency's request rate limit was reached")
		p.retryAfter = 1
		return p
	}
	return nil
}

// Request-context headers. Their values reach the policy and the audit log,
// so they are bounded and must be printable text.
const (
	headerPurpose       = "Liaison-Purpose"
	headerJustification = "Liaison-Justification"
	headerCase          = "Liaison-Case"
)

func readContextHeaders(r *http.Request, rc *reqCtx) error {
	rc.purpose = strings.TrimSpace(r.Header.Get(headerPurpose))
	rc.justification = strings.TrimSpace(r.Header.Get(headerJustification))
	rc.caseRef = strings.TrimSpace(r.Header.Get(headerCase))
	if rc.purpose != "" && !isToken(rc.purpose, 64, "_") {
		// Blank every context field on rejection: an invalid value must not
		// reach the audit entry of its own refusal (a 60 KB header would
		// make a 60 KB entry, and it may be a forgery attempt).
		rc.purpose, rc.justification, rc.caseRef = "", "", ""
		return errBadRequest(headerPurpose + " must be a purpose code such as investigation or prevention")
	}
	if len(rc.justification) > record.MaxJustification || !record.Printable(rc.justification) {
		rc.justification, rc.caseRef = "", ""
		return errBadRequest(fmt.Sprintf("%s must be printable text of at most %d bytes", headerJustification, record.MaxJustification))
	}
	if rc.caseRef != "" && !isToken(strings.ToLower(rc.caseRef), 128, "-_./") {
		rc.caseRef = ""
		return errBadRequest(headerCase + " must be a case reference of letters, digits and -_./")
	}
	return nil
}

func isToken(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

func errorText(p *Problem) string {
	if p.cause != nil {
		return p.Type + ": " + p.cause.Error()
	}
	return p.Type + ": " + p.Detail
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// input is the policy input (policies/README.md) for this request.
func (s *Server) input(rc *reqCtx, action policy.Action, m *record.Meta) policy.Input {
	in := policy.Input{
		Action:  action,
		Time:    s.now().UTC().Format(time.RFC3339),
		Subject: policy.Subject{AgencyID: rc.agency, CertFingerprint: rc.certFP},
		Request: policy.Request{Purpose: rc.purpose, Justification: rc.justification, Case: rc.caseRef},
		Record:  m,
	}
	if m != nil && len(m.Selectors) > 0 {
		// Selectors are personal data the policy has no rule about: they
		// stay out of its input (and so out of decision logs and replays).
		c := *m
		c.Selectors = nil
		in.Record = &c
	}
	if o := rc.officer; o != nil {
		roles := o.Roles
		if roles == nil {
			roles = []string{}
		}
		in.Subject.Officer = &policy.Officer{ID: o.ID, Clearance: o.Clearance, Vetting: o.Vetting, Roles: roles, Nationality: o.Nationality}
	}
	return in
}

// decide asks the policy. Any evaluation failure is a deny and a 500: the
// gateway never proceeds without an explicit allow.
func (s *Server) decide(ctx context.Context, rc *reqCtx, action policy.Action, m *record.Meta) (*policy.Decision, error) {
	return s.decideInput(ctx, rc, s.input(rc, action, m))
}

func (s *Server) decideInput(ctx context.Context, rc *reqCtx, in policy.Input) (*policy.Decision, error) {
	start := time.Now()
	ctx, span := tracing.Tracer().Start(ctx, "policy.decide")
	d, err := s.policy.Decide(ctx, in)
	s.metrics.observeDecision(time.Since(start), d.Allow, err)
	span.SetAttributes(attribute.Bool("liaison.decision.allow", d.Allow), attribute.String("liaison.policy.revision", d.Revision))
	if err != nil {
		tracing.End(span, "error")
	} else {
		tracing.End(span, "")
	}
	if err != nil {
		return nil, problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed",
			"the request was denied because the policy could not be evaluated").withCause(err)
	}
	rc.decision = &d
	return &d, nil
}

// denied renders a policy denial: 404 where the caller may not learn that
// the record exists, else 403 with the reasons the policy marks public.
func denied(d *policy.Decision) *Problem {
	if !d.Visible {
		return errNotFound()
	}
	p := problem(http.StatusForbidden, "denied", "Denied by policy", "the policy denied this request")
	p.Reasons = d.PublicReasons()
	p.DecisionID = d.ID
	return p
}

// firstDSA is the DSA whose key protects a record under per-DSA keys: the
// first it names (the schema requires at least one).
func firstDSA(m *record.Meta) string {
	if len(m.DSAIDs) == 0 {
		return ""
	}
	return m.DSAIDs[0]
}
