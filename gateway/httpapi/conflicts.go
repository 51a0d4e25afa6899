package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
)

// Concurrent changes. Replicas of a gateway share one store, and the
// in-process record lock (recordstore.Store.Lock) orders only one
// process's requests. Every change of a stored record, consent request or
// request for information therefore writes with compare-and-swap
// (objstore.PutOptions.IfMatch, the version tag of what was loaded). When
// another change came first the write fails with objstore.ErrConflict and
// changes nothing; the request is then run again from the start: the
// object reloaded, the policy asked again about what it now holds (a share
// of a record recalled meanwhile is 410, a share racing another share adds
// its recipients to the other's), and its audit entry written again. The
// entry of the attempt that lost was corrected (Corrects, status 409), so
// the log holds exactly one uncorrected entry for what happened.

// conflictAttempts bounds the attempts of one request: each lost race
// means another change was committed, so a request that loses this many in
// a row is on an object changing faster than it can be re-decided.
const conflictAttempts = 5

// isConflict reports whether err is a lost compare-and-swap.
func isConflict(err error) bool { return errors.Is(err, objstore.ErrConflict) }

// errConflict is the answer when every attempt lost: 409, because the
// request conflicts with the resource's current state as others keep
// changing it (it is not the store being down, which is 503), nothing of
// this request was stored, and the client may simply send it again.
func errConflict(cause error) *Problem {
	p := problem(http.StatusConflict, "concurrent-update", "Concurrent update",
		"the object was changed by other requests at the same moment, repeatedly; nothing of this request was stored; send it again").withCause(cause)
	p.retryAfter = 1
	return p
}

// retryConflicts runs attempt until it ends other than in a conflict, at
// most conflictAttempts times, and answers errConflict if it never does.
// attempt must load what it changes afresh each time and write no
// response before it succeeds.
func (s *Server) retryConflicts(ctx context.Context, rc *reqCtx, attempt func() error) error {
	var err error
	for n := 1; n <= conflictAttempts; n++ {
		if err = attempt(); !isConflict(err) {
			return err
		}
		s.log.Info("the object changed concurrently; deciding again on its current state",
			zap.String(fRequestID, rc.id), zap.Int("attempt", n))
		if n == conflictAttempts {
			break
		}
		// A short random pause, growing with each attempt, so that two
		// replicas that collided do not collide again in step.
		pause := time.Duration(n) * time.Duration(5+rand.IntN(20)) * time.Millisecond
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return errConflict(err)
		case <-t.C:
		}
	}
	return errConflict(err)
}
