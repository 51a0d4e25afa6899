package gatewaytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The e2e tests check every request they send and every answer they get
// against docs/openapi.yaml (kin-openapi: its openapi3filter validates
// OpenAPI 3.1 documents with a JSON Schema 2020-12 validator), so the
// document cannot drift from what the gateway does.
//
// A request the document calls invalid may be deliberate (a test of bad
// input): it is accepted when the gateway refused it with a 4xx. The same
// request answered with a success means the document and the gateway
// disagree on what is valid, and fails the test.

// OpenAPIPath is where the document lives in the repository.
func OpenAPIPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "openapi.yaml")
}

// ContractStats counts what the validation saw (in this test binary).
type ContractStats struct {
	// Requests were validated before sending; Invalid of them the document
	// rejects (each must have been refused with a 4xx).
	Requests, InvalidRequests int64
	// Responses were validated against their operation (or, for a path the
	// document does not name, against the Problem schema).
	Responses int64
}

var stats struct{ requests, invalid, responses atomic.Int64 }

// Stats returns the validation counts so far.
func Stats() ContractStats {
	return ContractStats{Requests: stats.requests.Load(), InvalidRequests: stats.invalid.Load(), Responses: stats.responses.Load()}
}

// Contract is the loaded document and a router of its agency-listener
// operations.
type Contract struct {
	Doc    *openapi3.T
	router routers.Router
	// admin routes the admin listener's operations (tag admin), for
	// Env.AdminGet.
	admin routers.Router
}

var (
	contractOnce sync.Once
	contract     *Contract
	contractErr  error
)

// LoadContract loads and validates docs/openapi.yaml once per test binary.
func LoadContract() (*Contract, error) {
	contractOnce.Do(func() {
		l := openapi3.NewLoader()
		doc, err := l.LoadFromFile(OpenAPIPath())
		if err != nil {
			contractErr = fmt.Errorf("load %s: %w", OpenAPIPath(), err)
			return
		}
		if err := doc.Validate(l.Context); err != nil {
			contractErr = fmt.Errorf("validate %s: %w", OpenAPIPath(), err)
			return
		}
		// The agency listener's operations are not routes on the admin
		// listener and the other way round (GET /metrics on the agency
		// listener is a 404 no-route): one router for each.
		r, err := listenerRouter(l, doc, false)
		if err != nil {
			contractErr = err
			return
		}
		admin, err := listenerRouter(l, doc, true)
		if err != nil {
			contractErr = err
			return
		}
		contract = &Contract{Doc: doc, router: r, admin: admin}
	})
	return contract, contractErr
}

// listenerRouter routes the operations of one listener: the admin
// listener's (tag admin) or the agency listener's. It matches paths only:
// tests reach both listeners on loopback ports the document cannot name,
// so servers are dropped on a copy used for routing alone.
func listenerRouter(l *openapi3.Loader, doc *openapi3.T, admin bool) (routers.Router, error) {
	var routing openapi3.T
	b, err := json.Marshal(doc)
	if err == nil {
		err = json.Unmarshal(b, &routing)
	}
	if err != nil {
		return nil, err
	}
	routing.Servers = nil
	for path, pi := range routing.Paths.Map() {
		op := pi.Get
		if isAdmin := op != nil && slices.Contains(op.Tags, "admin"); isAdmin != admin {
			routing.Paths.Delete(path)
			continue
		}
		pi.Servers = nil
		for _, op := range pi.Operations() {
			op.Servers = nil
		}
	}
	if err := l.ResolveRefsIn(&routing, nil); err != nil {
		return nil, err
	}
	r, err := gorillamux.NewRouter(&routing)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return r, nil
}

var filterOptions = &openapi3filter.Options{
	AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus:             true,
	RejectWhenRequestBodyNotSpecified: true,
	MultiError:                        true,
}

// contractTransport validates each round trip against the contract.
type contractTransport struct {
	errorf func(format string, args ...any)
	next   http.RoundTripper
	// admin: the round trips go to the admin listener.
	admin bool
	// onlyStarted: check only round trips to a gateway Start runs.
	onlyStarted bool
}

// CloseIdleConnections reaches the wrapped transport (Client.CloseIdle).
func (c *contractTransport) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// ContractTransport wraps next so that each request to the agency
// listener and its answer are validated against docs/openapi.yaml, as
// Client does, reporting each mismatch with errorf. It lets clients this
// package does not make (the liaison CLI's, in its tests) be checked too.
//
// Only requests to a gateway Start runs are checked: tests also point
// clients at stub servers, which are not the gateway.
func ContractTransport(errorf func(format string, args ...any), next http.RoundTripper) http.RoundTripper {
	return &contractTransport{errorf: errorf, next: next, onlyStarted: true}
}

// started holds the host:port of every gateway Start runs in this test
// binary (agency listener).
var started sync.Map

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := started.Load(req.URL.Host); c.onlyStarted && !ok {
		return c.next.RoundTrip(req)
	}
	ct, err := LoadContract()
	if err != nil {
		c.errorf("openapi: %v", err)
		return c.next.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	stats.requests.Add(1)
	router := ct.router
	if c.admin {
		router = ct.admin
	}
	route, params, rerr := router.FindRoute(req)
	var in *openapi3filter.RequestValidationInput
	var reqErr error
	if rerr == nil {
		vreq := req.Clone(context.Background())
		vreq.Body = io.NopCloser(bytes.NewReader(body))
		in = &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: filterOptions}
		reqErr = openapi3filter.ValidateRequest(context.Background(), in)
	}
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	rbody, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rbody))
	where := fmt.Sprintf("%s %s → %d", req.Method, req.URL.Path, resp.StatusCode)
	if rerr != nil && c.admin {
		// The admin listener answers no problems: the tests call only
		// its documented endpoints.
		stats.responses.Add(1)
		c.errorf("openapi: %s: not an admin operation in the document: %v", where, rerr)
		return resp, nil
	}
	if rerr != nil {
		// Not a documented route: the gateway must say so with a problem.
		if msg := ct.checkUnrouted(resp.StatusCode, resp.Header, rbody); msg != "" {
			c.errorf("openapi: %s: %s (no operation: %v)", where, msg, rerr)
		}
		return resp, nil
	}
	if reqErr != nil {
		stats.invalid.Add(1)
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			c.errorf("openapi: %s: the document rejects this request but the gateway answered %d: %v", where, resp.StatusCode, reqErr)
		}
	}
	if msg := validateResponse(in, resp.StatusCode, resp.Header, rbody); msg != "" {
		c.errorf("openapi: %s: response: %s", where, msg)
	}
	return resp, nil
}

func validateResponse(in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) string {
	stats.responses.Add(1)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: h, Options: filterOptions}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err.Error()
	}
	return ""
}

// checkUnrouted checks the answer to a path the document does not name:
// a 4xx problem+json that is a valid Problem.
func (ct *Contract) checkUnrouted(status int, h http.Header, body []byte) string {
	stats.responses.Add(1)
	if status < 400 || status > 499 {
		return fmt.Sprintf("status %d for an undocumented route", status)
	}
	if mt := h.Get("Content-Type"); mt != "application/problem+json" {
		return fmt.Sprintf("content type %q, want application/problem+json", mt)
	}
	ref := ct.Doc.Components.Schemas["Problem"]
	if ref == nil || ref.Value == nil {
		return "the document has no Problem schema"
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "problem body is not JSON"
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return "problem body: " + err.Error()
	}
	return ""
}

// checkRaw validates the answer to a raw request (whose bytes are
// deliberately malformed, so only the answer is checked): against the
// operation its request line names, or as a problem when it names none.
func (e *Env) checkRaw(req []byte, resp *http.Response, body []byte) {
	ct, err := LoadContract()
	if err != nil {
		e.T.Errorf("openapi: %v", err)
		return
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(req)).ReadLine()
	parts := strings.SplitN(string(line), " ", 3)
	where := fmt.Sprintf("raw %.80q → %d", line, resp.StatusCode)
	var route *routers.Route
	var params map[string]string
	var hreq *http.Request
	rerr := fmt.Errorf("unparsable request line")
	if len(parts) == 3 && strings.HasPrefix(parts[1], "/") {
		if u, perr := url.ParseRequestURI(e.URL + parts[1]); perr == nil {
			hreq = &http.Request{Method: parts[0], URL: u, Header: http.Header{}}
			route, params, rerr = ct.router.FindRoute(hreq)
		}
	}
	if rerr != nil {
		if msg := ct.checkUnrouted(resp.StatusCode, resp.Header, body); msg != "" {
			e.T.Errorf("openapi: %s: %s", where, msg)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: hreq, PathParams: params, Route: route, Options: filterOptions}
	if msg := validateResponse(in, resp.StatusCode, resp.Header, body); msg != "" {
		e.T.Errorf("openapi: %s: response: %s", where, msg)
	}
}

// AdminGet gets path from the admin listener, checking the request and the
// answer against the document's admin operations like every agency
// client's round trip.
func (e *Env) AdminGet(path string) (*http.Response, error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &contractTransport{errorf: e.T.Errorf, next: http.DefaultTransport, admin: true}}
	return c.Get(e.AdminURL + path)
}
