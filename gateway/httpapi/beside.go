package httpapi

import "net/http"

// Beside wraps h, a handler served on the agency listener beside the API
// (the web console, gateway/console), in the API's outer layers: the
// response is marked as the handler's (so net/http's edge rewriting does
// not replace a 4xx it writes, edge.go), panics become a 500 problem, the
// request gets its id, clock and deadline, it is counted and logged, and
// a non-canonical path ("..", "//") is refused with 400 before h sees it.
// Requests the console passes on to the API itself go through Handler,
// which has these layers of its own; Handled is enough around that step.
func (s *Server) Beside(h http.Handler) http.Handler {
	return chain(h, s.markHandled, s.recoverPanics, s.requestContext, s.observe, s.rejectUncleanPath)
}

// Handled wraps h with the first layer only (markHandled): for a handler
// that answers some requests itself and hands the others to Handler.
func (s *Server) Handled(h http.Handler) http.Handler { return s.markHandled(h) }
