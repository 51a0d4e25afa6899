package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/liaison-project/liaison/gateway/record"
)

// Strict reading of what a client sends besides headers: the media type
// of a body, the body's JSON, and the query string. Each refuses what
// net/http and encoding/json would otherwise quietly repair or ignore, so
// that what the gateway acts on is exactly what the client wrote.

// requireJSON answers 415 unless the request says its body is JSON:
// application/json, with at most a charset parameter of utf-8 (RFC 8259
// JSON is UTF-8). A missing type is refused too: a form post or a plain
// text body that happens to parse must not be acted on. Structured-syntax
// types (application/*+json) are refused on purpose: every body this API
// takes is plain JSON, and another media type means another client intent.
func requireJSON(r *http.Request) error {
	vals := r.Header.Values("Content-Type")
	if len(vals) != 1 {
		return errUnsupportedMediaType("send Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(vals[0])
	if err != nil || mt != "application/json" {
		return errUnsupportedMediaType("send Content-Type: application/json")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return errUnsupportedMediaType("application/json takes no parameter but charset=utf-8")
		}
	}
	return nil
}

// decodeJSON is the one strict decode of a request body into v: exactly
// one JSON value (trailing data is an error), no unknown or duplicate
// members, every string valid Unicode text. usage is how the body should
// look, for the 400's detail.
func decodeJSON(body []byte, v any, usage string) error {
	err := record.DecodeStrict(body, v)
	if err == nil {
		return nil
	}
	var ve *record.ValidationError
	if errors.As(err, &ve) {
		p := problem(http.StatusBadRequest, "invalid-request", "Invalid request",
			"the body holds text that is not valid Unicode, or a member given twice; see errors")
		p.Errors = ve.Fields
		return p
	}
	return errBadRequest(usage + ": " + err.Error())
}

// strictQuery parses the raw query string, which r.URL.Query would parse
// leniently: a malformed escape (%zz) or a ';' separator makes it drop
// pairs silently. Here either is a 400, as is a parameter not in allowed
// or given twice.
func strictQuery(r *http.Request, allowed ...string) (url.Values, error) {
	if strings.Contains(r.URL.RawQuery, ";") {
		return nil, errBadRequest("the query string is malformed: separate parameters with '&', not ';'")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errBadRequest("the query string is malformed (an invalid %-escape)")
	}
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			return nil, errBadRequest("unknown query parameter " + strconv.Quote(k))
		}
		if len(vs) != 1 {
			return nil, errBadRequest("query parameter " + strconv.Quote(k) + " is given more than once")
		}
	}
	return q, nil
}
