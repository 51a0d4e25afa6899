package federation

import (
	"context"
	"net/http"
)

// serveManifest answers GET /fed/v1/manifest (not yet: see issue 11).
func (s *Service) serveManifest(w http.ResponseWriter, _ *http.Request) {
	writeProblem(w, http.StatusNotFound, "not-found", "Not found", "no manifest is published yet")
}

// runManifests refreshes peers' manifests and re-reads the peers
// directory (not yet).
func (s *Service) runManifests(ctx context.Context) { <-ctx.Done() }
