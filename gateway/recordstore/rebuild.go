package recordstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/gateway/record"
)

// Rebuild progress is kept beside the index (Backend.SetState), so that an
// interrupted rebuild resumes where it stopped, on any machine.
const (
	rebuildAfterState    = "rebuild.after"
	rebuildStartedState  = "rebuild.started"
	rebuildCompleteState = "rebuild.completed"
	rebuildPage          = 256
	rebuildConc          = 8
)

// RebuildProgress is reported after each page of records.
type RebuildProgress struct {
	// Done counts records indexed by this run; Skipped those that failed
	// their integrity check (logged, never indexed).
	Done, Skipped int
	// Last is the last record id handled (the resume point).
	Last string
	// Resumed is the id this run started after ("" from the beginning).
	Resumed string
}

// RebuildOptions adjust Rebuild.
type RebuildOptions struct {
	// Restart ignores a saved resume point and starts from the first record.
	Restart bool
	// Progress, if set, is told after every page.
	Progress func(RebuildProgress)
}

// Rebuild writes the index entry of every record in the store again, in
// record id order, from the records themselves (the store is the source of
// truth): readers, filters and blind selector values under every active
// blind-index key. It saves its position after each page, and a later run
// resumes from it unless o.Restart. The gateway may keep serving: entries
// are upserts guarded by version, so a record changed meanwhile keeps its
// newer entry.
func (rs *Store) Rebuild(ctx context.Context, o RebuildOptions) (RebuildProgress, error) {
	ix := rs.index
	if ix.db == nil {
		return RebuildProgress{}, errors.New("rebuild: no index database")
	}
	var p RebuildProgress
	if !o.Restart {
		after, err := ix.db.GetState(ctx, rebuildAfterState)
		if err != nil {
			return p, fmt.Errorf("rebuild: read the resume point: %w", err)
		}
		if after != "" && !record.ValidID(after) {
			return p, fmt.Errorf("rebuild: the saved resume point is not a record id; run with --restart")
		}
		p.Resumed, p.Last = after, after
	}
	if p.Resumed == "" {
		if err := ix.db.SetState(ctx, rebuildStartedState, ix.now().UTC().Format(time.RFC3339)); err != nil {
			return p, err
		}
	}
	startAfter := ""
	if p.Last != "" {
		startAfter = recordKey(p.Last)
	}
	for {
		keys, err := rs.store.List(ctx, recordPrefix, startAfter, rebuildPage)
		if err != nil {
			return p, fmt.Errorf("rebuild: list records: %w", err)
		}
		var ids []string
		for _, k := range keys {
			if id := strings.TrimPrefix(k, recordPrefix); record.ValidID(id) {
				ids = append(ids, id)
			}
		}
		skipped := make([]bool, len(ids))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(rebuildConc)
		for i, id := range ids {
			g.Go(func() error {
				st, err := rs.Load(gctx, id)
				switch {
				case errors.Is(err, ErrNotFound):
					return nil
				case errors.Is(err, ErrTampered):
					ix.log.Error("record failed integrity check during the index rebuild; not indexed", zap.String("record_id", id), zap.Error(err))
					skipped[i] = true
					return nil
				case err != nil:
					return err
				}
				return ix.Put(gctx, st)
			})
		}
		if err := g.Wait(); err != nil {
			return p, fmt.Errorf("rebuild: %w (run again to resume after %s)", err, p.Last)
		}
		for _, s := range skipped {
			if s {
				p.Skipped++
			}
		}
		p.Done += len(ids) - countTrue(skipped)
		if len(keys) > 0 {
			startAfter = keys[len(keys)-1]
		}
		if len(ids) > 0 {
			p.Last = ids[len(ids)-1]
			if err := ix.db.SetState(ctx, rebuildAfterState, p.Last); err != nil {
				return p, fmt.Errorf("rebuild: save progress: %w", err)
			}
		}
		if o.Progress != nil {
			o.Progress(p)
		}
		if len(keys) < rebuildPage {
			break
		}
	}
	if err := ix.db.SetState(ctx, rebuildAfterState, ""); err != nil {
		return p, err
	}
	return p, ix.db.SetState(ctx, rebuildCompleteState, ix.now().UTC().Format(time.RFC3339))
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// RebuildStarted is when the last rebuild run from the first record began
// (zero if none).
func (rs *Store) RebuildStarted(ctx context.Context) (time.Time, error) {
	if rs.index.db == nil {
		return time.Time{}, errors.New("no index database")
	}
	v, err := rs.index.db.GetState(ctx, rebuildStartedState)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339, v)
}

// RebuildState says whether a rebuild is under way (its resume point) and
// when the last one completed.
func (rs *Store) RebuildState(ctx context.Context) (resumeAfter, completed string, err error) {
	db := rs.index.db
	if db == nil {
		return "", "", errors.New("no index database")
	}
	if resumeAfter, err = db.GetState(ctx, rebuildAfterState); err != nil {
		return "", "", err
	}
	completed, err = db.GetState(ctx, rebuildCompleteState)
	return resumeAfter, completed, err
}
