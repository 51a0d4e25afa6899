package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/search"
	"github.com/liaison-project/liaison/gateway/selector"
	"github.com/liaison-project/liaison/policy"
)

// Keyring is what search needs of the blind-index keyring (search.Keyring).
type Keyring interface {
	Keys() []selector.Key
	// Ready loads the keys if they are not (a key service down at start).
	Ready(ctx context.Context) error
}

// searchState is the per-agency quota and the metrics of searches.
type searchState struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	outcomes *prometheus.CounterVec
}

func newSearchState(reg *prometheus.Registry) *searchState {
	st := &searchState{limiters: map[string]*rate.Limiter{},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liaison_search_selectors_total",
			Help: "Selectors searched, by outcome (hit: something readable or discoverable matched; no_hit).",
		}, []string{"outcome"})}
	reg.MustRegister(st.outcomes)
	return st
}

// allow spends one search of agency's quota (search.per_minute, burst).
func (s *Server) allowSearch(agency string) bool {
	st := s.searches
	st.mu.Lock()
	l, ok := st.limiters[agency]
	if !ok {
		per := s.cfg.Search.PerMinute
		if v, ok := s.cfg.Search.AgencyPerMinute[agency]; ok {
			per = v
		}
		l = rate.NewLimiter(rate.Limit(per/60), s.cfg.Search.Burst)
		st.limiters[agency] = l
	}
	st.mu.Unlock()
	return l.Allow()
}

// POST /v1/search — hit/no-hit on typed selectors (docs/search.md).
//
// For each selector: its normalised form is keyed with every active
// blind-index key and looked up; each matching record is loaded and
// verified; a record the caller may list is returned as readable; else,
// if the policy lets the caller discover it (record.discover), it is
// returned as a bare hit — holder, agreement, reference — and otherwise
// nothing is said. The audit entry keeps blind values, never selectors.
func (s *Server) search(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if rc.purpose == "" || rc.justification == "" || rc.caseRef == "" {
		return errBadRequest("a search needs a purpose, a justification and a case: send " + headerPurpose + ", " + headerJustification + " and " + headerCase)
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req api.SearchRequest
	if err := decodeJSON(body, &req, `body must be {"selectors": [{"type": "phone", "value": "..."}, ...]}`); err != nil {
		return err
	}
	if len(req.Selectors) == 0 || len(req.Selectors) > s.cfg.Search.MaxSelectors {
		return errBadRequest(fmt.Sprintf("selectors must hold 1..%d selectors", s.cfg.Search.MaxSelectors))
	}
	region := ""
	if a, ok := s.policy.Agency(rc.agency); ok {
		region = a.Country
	}
	norm, bad := selector.NormalizeAll(req.Selectors, region)
	if len(bad) > 0 {
		p := problem(http.StatusBadRequest, "invalid-selector", "Invalid selector", "a selector is not valid; see errors")
		for _, fe := range bad {
			p.Errors = append(p.Errors, record.FieldError(fe))
		}
		return p
	}
	if !s.allowSearch(rc.agency) {
		p := problem(http.StatusTooManyRequests, "search-quota", "Search quota reached", "your agency's search quota on this gateway was reached; try again later")
		p.retryAfter = 60
		return p
	}
	if s.keyring == nil {
		return backendProblem(fmt.Errorf("%w: no blind-index keyring", index.ErrUnavailable))
	}
	if err := s.keyring.Ready(r.Context()); err != nil {
		return backendProblem(err)
	}
	keys := s.keyring.Keys()
	newest := keys[len(keys)-1]

	out := api.SearchResult{Selectors: make([]api.SelectorResult, len(norm))}
	ev := &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK, Search: &audit.Search{}}
	seen := map[string]bool{}
	for i, n := range norm {
		values := make([]index.Blind, 0, len(keys))
		for _, k := range keys {
			values = append(values, index.Blind{KeyVersion: k.Version, Type: n.Type, Value: k.Blind(n)})
		}
		matches, err := s.records.Index().Backend().Lookup(r.Context(), values, s.cfg.Search.MaxMatches+1)
		if err != nil {
			return backendProblem(err)
		}
		if len(matches) > s.cfg.Search.MaxMatches {
			matches, out.Truncated, ev.Search.Truncated = matches[:s.cfg.Search.MaxMatches], true, true
		}
		res, err := s.searchMatches(r.Context(), rc, matches)
		if err != nil {
			return err
		}
		res.Index, res.Type, res.Outcome = i, n.Type, api.SearchNoHit
		if len(res.Records) > 0 || len(res.Hits) > 0 {
			res.Outcome = api.SearchHit
		}
		out.Selectors[i] = res.SelectorResult
		ev.Search.Selectors = append(ev.Search.Selectors, audit.SearchSelector{Type: n.Type, KeyVersion: newest.Version,
			Blind: hex.EncodeToString(newest.Blind(n)), Outcome: res.Outcome})
		s.searches.outcomes.WithLabelValues(res.Outcome).Inc()
		for _, rec := range res.Records {
			if !seen[rec.ID] {
				seen[rec.ID] = true
				rc.recordIDs = append(rc.recordIDs, rec.ID)
				ev.Search.Readable++
			}
		}
		ev.Search.HitRecordIDs = append(ev.Search.HitRecordIDs, res.hitIDs...)
		ev.Search.Hits += len(res.hitIDs)
		ev.Search.Withheld += res.withheld
	}
	if err := s.recordOutcome(r.Context(), rc, ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type selectorResult struct {
	api.SelectorResult
	hitIDs   []string
	withheld int
}

// searchMatches decides each matching record for the caller, concurrently,
// and keeps the order of the matches.
func (s *Server) searchMatches(ctx context.Context, rc *reqCtx, matches []index.Match) (selectorResult, error) {
	type verdict struct {
		rec *api.SearchRecord
		hit *api.SearchHitRef
		id  string
	}
	vs := make([]verdict, len(matches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listConc)
	for i, m := range matches {
		g.Go(func() error {
			st, err := s.records.Load(gctx, m.RecordID)
			if err != nil {
				if errors.Is(err, recordstore.ErrTampered) {
					s.log.Error("record failed integrity check during a search", zap.String(fRecordID, m.RecordID), zap.Error(err))
					return nil
				}
				if errors.Is(err, recordstore.ErrNotFound) {
					return nil
				}
				return backendProblem(err)
			}
			if st.State != recordstore.StateActive {
				return nil
			}
			vs[i].id = m.RecordID
			d, err := s.policy.Decide(gctx, s.input(rc, policy.ActionList, &st.Meta))
			if err != nil {
				return problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed", "the search was refused because the policy could not be evaluated").withCause(err)
			}
			if d.Allow {
				vs[i].rec = &api.SearchRecord{ID: m.RecordID, Version: st.Meta.Version, Originator: st.Meta.Originator.OrgID}
				return nil
			}
			// A copy received from a peer gateway is not this gateway's to
			// reveal: its holder is the originator's gateway (federated
			// search asks it there).
			if st.Origin != nil {
				return nil
			}
			d, err = s.policy.Decide(gctx, s.input(rc, policy.ActionDiscover, &st.Meta))
			if err != nil {
				return problem(http.StatusInternalServerError, "policy-error", "Policy evaluation failed", "the search was refused because the policy could not be evaluated").withCause(err)
			}
			if !d.Allow || d.DSAID == "" {
				return nil
			}
			ref, err := search.SealRef(s.hitRefKey(), search.Ref{RecordID: m.RecordID, Holder: st.Meta.Originator.OrgID,
				DSA: d.DSAID, Searcher: rc.agency, Issued: s.now().Unix()})
			if err != nil {
				return errInternal(err)
			}
			vs[i].hit = &api.SearchHitRef{Holder: st.Meta.Originator.OrgID, DSA: d.DSAID, Reference: ref}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return selectorResult{}, err
	}
	res := selectorResult{SelectorResult: api.SelectorResult{Records: []api.SearchRecord{}, Hits: []api.SearchHitRef{}}}
	for _, v := range vs {
		switch {
		case v.rec != nil:
			res.Records = append(res.Records, *v.rec)
		case v.hit != nil:
			res.Hits = append(res.Hits, *v.hit)
			res.hitIDs = append(res.hitIDs, v.id)
		case v.id != "":
			res.withheld++
		}
	}
	return res, nil
}
