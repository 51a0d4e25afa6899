package console

import (
	"net/http"
	"strings"

	"github.com/liaison-project/liaison/gateway/httpapi"
)

// serveAPI is /console/api/v1/…: the session (and, for a state-changing
// method, the CSRF token and origin) checked, then the request handed to
// the agency API's own handler as /v1/… with the session's officer token
// in Authorization. Whatever credentials the browser sent (Authorization,
// cookies, the CSRF header) are dropped first: the API sees exactly what
// an API client with this certificate and this token would send, so the
// policy decides and the audit log records as for any other call.
func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, apiH http.Handler) {
	securityHeaders(w.Header())
	p := r.URL.Path
	if !httpapi.CleanPath(p) || !httpapi.CleanPath(r.URL.EscapedPath()) || !strings.HasPrefix(p, apiPrefix+"v1/") {
		writeProblem(w, r, http.StatusBadRequest, "bad-path", "Bad request path", "console API paths are /console/api/v1/… in canonical form: no '.' or '..' segments and no empty segments")
		return
	}
	x, pr, ok := c.session(w, r)
	if !ok {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := csrfOK(r, x); err != nil {
			c.refuse(w, r, pr, actionSession, http.StatusForbidden, "csrf", "Cross-site request refused", err.Error())
			return
		}
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = strings.TrimPrefix(p, "/console/api")
	if r.URL.RawPath != "" {
		r2.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, "/console/api")
	}
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Authorization")
	r2.Header.Del("Cookie")
	r2.Header.Del(headerCSRF)
	r2.Header.Set("Authorization", "Bearer "+x.token)
	apiH.ServeHTTP(w, r2)
}
