package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/policy"
)

// listRounds bounds the index pages one listing request considers, so
// that one call's cost is bounded even when the policy refuses most
// candidates; the cursor resumes.
const listRounds = 5

// listConc is how many candidates are loaded and decided at once: loads
// wait on the store, decisions use a core each.
const listConc = 4

// GET /v1/records?<filters>&limit=&cursor=
func (s *Server) list(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	q, err := strictQuery(r, api.ListParams...)
	if err != nil {
		return err
	}
	f, err := api.ParseListFilter(q, s.cfg.Limits.MaxListLimit)
	if err != nil {
		return errBadRequest(err.Error())
	}
	after, ok := s.records.Index().ParseCursor(rc.agency, f.Cursor)
	if !ok {
		return errBadRequest("cursor is not one this gateway issued")
	}
	now := s.now().UTC()
	items := []api.RecordListItem{}
	var listed []string
	exhausted := false
	if from, to, ok := f.ReviewBounds(now); !ok {
		exhausted = true // an empty review range: nothing can match
	} else {
		iq := index.Query{
			Reader: rc.agency, DSAIDs: f.DSAIDs, Originators: f.Originators, Recipients: f.Recipients,
			OCGIDs: f.OCGIDs, FourP: f.FourP, Tiers: f.Tiers, TLPs: f.TLPs, HandlingCode: f.HandlingCodes,
			CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo, ReviewFrom: from, ReviewTo: to,
		}
		if f.Operation != "" {
			iq.Operations = []string{f.Operation}
		}
	scan:
		for round := 0; round < listRounds && len(items) < f.Limit; round++ {
			iq.After, iq.Limit = after, f.Limit-len(items)
			hits, err := s.records.Index().Query(r.Context(), iq)
			if err != nil {
				return backendProblem(err)
			}
			got, err := s.listCandidates(r.Context(), rc, hits, f, now)
			if err != nil {
				return err
			}
			for i, h := range hits {
				after = h.RecordID
				if got[i] == nil {
					continue
				}
				items = append(items, *got[i])
				listed = append(listed, h.RecordID)
				if len(items) == f.Limit {
					// A full page: more may follow unless the index had
					// nothing after this one (a short index page).
					exhausted = i == len(hits)-1 && len(hits) < iq.Limit
					break scan
				}
			}
			if len(hits) < iq.Limit {
				exhausted = true
				break
			}
		}
	}
	next := s.records.Index().FormatCursor(rc.agency, after)
	if exhausted {
		next = ""
	}
	rc.recordIDs = listed
	if err := s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.RecordList{Items: items, NextCursor: next})
	return nil
}

// SetListCache turns off (or on again: the default) the cache of verified
// record metadata that the shared path loads candidates through
// (recordstore.LoadListed); the reference path never uses it. For the test
// that proves pages are the same either way, and the benchmark.
func (s *Server) SetListCache(on bool) { s.records.SetListedCache(on) }

// ListCacheStats reports that cache's hits, misses and entries.
func (s *Server) ListCacheStats() (hits, misses, entries int) { return s.records.ListedCacheStats() }

// listCandidates loads, verifies, re-checks against f and decides each
// hit; the result holds the item for each hit the caller may see (nil for
// the others), in hit order. With the bundled policy, candidates whose
// policy inputs differ only in what identifies them share one decision
// (listshare.go) and candidates are loaded through the record store's
// verified cache (LoadListed); otherwise, and with SetListReference, every
// candidate is loaded with Load and decided (listCandidatesEach, the
// reference path).
func (s *Server) listCandidates(ctx context.Context, rc *reqCtx, hits []index.Hit, f api.ListFilter, now time.Time) ([]*api.RecordListItem, error) {
	if !s.listShare || s.listReference.Load() {
		return s.listCandidatesEach(ctx, rc, hits, f, now)
	}
	recs := make([]*recordstore.Record, len(hits))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConc)
	for i, h := range hits {
		g.Go(func() error {
			st, err := s.listLoad(gctx, h.RecordID, f, now, s.records.LoadListed)
			recs[i] = st
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// One decision per distinct input (less the identifying fields), asked
	// with the input of the group's first candidate.
	type group struct {
		in      policy.Input
		members []int
		d       policy.Decision
	}
	var groups []*group
	byKey := map[string]*group{}
	for i, st := range recs {
		if st == nil {
			continue
		}
		in := s.input(rc, policy.ActionList, &st.Meta)
		key, err := listShareKey(in)
		if err != nil {
			return nil, errInternal(err)
		}
		gr := byKey[key]
		if gr == nil {
			gr = &group{in: in}
			byKey[key] = gr
			groups = append(groups, gr)
		}
		gr.members = append(gr.members, i)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(listConc)
	for _, gr := range groups {
		g.Go(func() error {
			d, err := s.policy.Decide(gctx, gr.in)
			if err != nil {
				return listPolicyError(err)
			}
			gr.d = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]*api.RecordListItem, len(hits))
	for _, gr := range groups {
		if !gr.d.Allow {
			continue
		}
		for _, i := range gr.members {
			st := recs[i]
			out[i] = &api.RecordListItem{ID: hits[i].RecordID, Version: st.Meta.Version, Meta: st.Meta, Banner: gr.d.Obligations.Banner, Review: s.reviewState(&st.Meta, now)}
		}
	}
	return out, nil
}

// listLoad loads and verifies a candidate with load (the record store's
// Load, or LoadListed: the same checks, with verified metadata kept): nil
// (and no error) for one that is gone, fails its integrity check
// (logged), is not active or does not match f. The record is only read.
func (s *Server) listLoad(ctx context.Context, id string, f api.ListFilter, now time.Time,
	load func(context.Context, string) (*recordstore.Record, error)) (*recordstore.Record, error) {
	st, err := load(ctx, id)
	if err != nil {
		if errors.Is(err, recordstore.ErrTampered) {
			s.log.Error("record failed integrity check during listing", zap.String(fRecordID, id), zap.Error(err))
			return nil, nil
		}
		if errors.Is(err, recordstore.ErrNotFound) {
			return nil, nil
		}
		return nil, backendProblem(err)
	}
	if st.State != recordstore.StateActive || !f.Matches(&st.Meta, now) {
		return nil, nil
	}
	return st, nil
}

func listPolicyError(err error) error {
	return problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed", "the listing was denied because the policy could not be evaluated").withCause(err)
}

// listCandidatesEach is listCandidates deciding every candidate on its
// own, concurrently: the reference the shared path must equal.
func (s *Server) listCandidatesEach(ctx context.Context, rc *reqCtx, hits []index.Hit, f api.ListFilter, now time.Time) ([]*api.RecordListItem, error) {
	out := make([]*api.RecordListItem, len(hits))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConc)
	for i, h := range hits {
		g.Go(func() error {
			st, err := s.listLoad(gctx, h.RecordID, f, now, s.records.Load)
			if err != nil || st == nil {
				return err
			}
			d, err := s.policy.Decide(gctx, s.input(rc, policy.ActionList, &st.Meta))
			if err != nil {
				return listPolicyError(err)
			}
			if d.Allow {
				out[i] = &api.RecordListItem{ID: h.RecordID, Version: st.Meta.Version, Meta: st.Meta, Banner: d.Obligations.Banner, Review: s.reviewState(&st.Meta, now)}
			}
			return nil
		})
	}
	return out, g.Wait()
}
