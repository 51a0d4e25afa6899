package federation

import (
	"context"
	"net/http"
)

// serveCheckpoint answers GET /fed/v1/checkpoint (not yet: see issue 11).
func (s *Service) serveCheckpoint(w http.ResponseWriter, _ *http.Request) {
	writeProblem(w, http.StatusNotFound, "not-found", "Not found", "no checkpoint is published yet")
}

// runWitness fetches and records peers' checkpoints (not yet).
func (s *Service) runWitness(ctx context.Context) { <-ctx.Done() }
