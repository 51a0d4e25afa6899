package httpapi

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The oversight endpoints (docs/api.md "Oversight"): proofs, statistics and
// evidence packs over this node's audit log for auditors (audit.query, in
// the caller's audit scope), and the policy in force, its reload history
// and the shadow report for policy administrators (policy.inspect). Each
// is decided by the policy first and audited as a consultation before it
// answers, like GET /v1/audit.

// errNoAuditEntry is the 404 of an entry that does not exist and of one
// outside the caller's audit scope alike: the answer must not tell them apart.
func errNoAuditEntry() *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", "no such audit entry, or it is outside your audit scope")
}

// errNotYetSigned is the 409 of an entry no signed checkpoint covers yet:
// the gateway signs one within audit.checkpoint_interval, so the client
// retries after that.
func (s *Server) errNotYetSigned(cause error) *Problem {
	p := problem(http.StatusConflict, "not-yet-signed", "Not yet signed",
		"no signed checkpoint covers this entry yet; the gateway signs one within its checkpoint interval, retry then").withCause(cause)
	p.retryAfter = max(1, int(s.cfg.Audit.CheckpointInterval.Round(time.Second)/time.Second))
	return p
}

// errAuditIntegrity: the log does not verify, so nothing can be proven from
// it. Never an answer built from an unverified log.
func errAuditIntegrity(cause error) *Problem {
	return problem(http.StatusInternalServerError, "audit-integrity", "Audit log integrity check failed",
		"this gateway's audit log does not verify, so no proof can be made from it; the operator has been alerted").withCause(cause)
}

// allowAudit decides audit.query and returns the caller's audit scope.
func (s *Server) allowAudit(r *http.Request, rc *reqCtx) (*audit.Scope, error) {
	d, err := s.decide(r.Context(), rc, policy.ActionAuditQuery, nil)
	if err != nil {
		return nil, err
	}
	if !d.Allow {
		// Auditing is no secret: say why, as for the audit query.
		return nil, denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	return auditScope(d, rc.agency), nil
}

// allowInspect decides policy.inspect.
func (s *Server) allowInspect(r *http.Request, rc *reqCtx) error {
	d, err := s.decide(r.Context(), rc, policy.ActionPolicyInspect, nil)
	if err != nil {
		return err
	}
	if !d.Allow {
		return denied(&policy.Decision{ID: d.ID, Visible: true, Reasons: d.Reasons})
	}
	return nil
}

// consulted writes the request's audit entry before the answer: reading
// the oversight endpoints is itself a consultation.
func (s *Server) consulted(r *http.Request, rc *reqCtx) error {
	return s.recordOutcome(r.Context(), rc, &audit.Event{Operation: audit.OpConsultation, Status: http.StatusOK})
}

// ---- GET /v1/audit/proof ----------------------------------------------------

// proverCache keeps the Prover of this node's log between requests.
// NewProver verifies the whole log (about 170 ms for 10,000 entries), which
// a proof per entry view cannot pay each time; a Prover stays valid for
// every entry its checkpoint covers, so it is rebuilt only when the
// checkpoints file (append-only) has grown: a newer checkpoint was signed.
type proverCache struct {
	mu     sync.Mutex
	p      *audit.Prover
	cpSize int64 // size of the checkpoints file p was built from
}

// prover returns a Prover of this node's log against its latest signed
// checkpoint, or nil when no checkpoint was signed yet.
func (s *Server) prover() (*audit.Prover, error) {
	st, err := os.Stat(audit.CheckpointsPath(s.cfg.Audit.Path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	c := &s.provers
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil && c.cpSize == st.Size() {
		return c.p, nil
	}
	p, rep, err := audit.NewProver(s.cfg.Audit.Path, audit.VerifyOptions{Live: true})
	if err != nil {
		if rep != nil && rep.Failure != nil {
			return nil, errAuditIntegrity(err)
		}
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	c.p, c.cpSize = p, st.Size()
	return p, nil
}

// auditEntry returns entry seq of this node's log, or nil if there is none.
func (s *Server) auditEntry(seq uint64) (*audit.Event, error) {
	ev, _, err := audit.Entry(s.cfg.Audit.Path, seq)
	if err != nil {
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	return ev, nil
}

// parseSeq reads the seq query parameter: a decimal entry number from 1.
func parseSeq(q url.Values) (uint64, error) {
	v := q.Get("seq")
	if v == "" {
		return 0, errBadRequest("seq is required: the sequence number of an audit entry")
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil || seq == 0 || len(v) > 20 || v[0] == '+' {
		return 0, errBadRequest("seq must be the sequence number of an audit entry (1, 2, …)")
	}
	return seq, nil
}

// auditProof: GET /v1/audit/proof?seq=N — the inclusion proof of entry N of
// this node's log against its latest signed checkpoint. An entry outside
// the caller's audit scope is a 404 exactly like one that does not exist;
// one no checkpoint covers yet is a 409 not-yet-signed with Retry-After.
func (s *Server) auditProof(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	scope, err := s.allowAudit(r, rc)
	if err != nil {
		return err
	}
	q, err := strictQuery(r, auditProofParams...)
	if err != nil {
		return err
	}
	seq, err := parseSeq(q)
	if err != nil {
		return err
	}
	ev, err := s.auditEntry(seq)
	if err != nil {
		return err
	}
	if ev == nil || !scope.Sees(ev) {
		return errNoAuditEntry()
	}
	pr, err := s.prover()
	if err != nil {
		return err
	}
	if pr == nil || seq > pr.SignedSize() {
		return s.errNotYetSigned(nil)
	}
	p, err := pr.Prove(seq)
	switch {
	case errors.Is(err, audit.ErrNotSigned):
		return s.errNotYetSigned(err)
	case err != nil:
		return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	// The proof carries the entry's bytes: check once more that they are
	// the entry the scope was checked on.
	var proven audit.Event
	if json.Unmarshal([]byte(p.Leaf), &proven) != nil || proven.Seq != seq || !scope.Sees(&proven) {
		return errNoAuditEntry()
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

var auditProofParams = []string{"seq"}

// ---- GET /v1/audit/stats ----------------------------------------------------

var auditStatsParams = []string{"from", "to", "dsa"}

// defaultStatsWindow is the window of GET /v1/audit/stats without from.
const defaultStatsWindow = 30 * 24 * time.Hour

// maxStatsWindow bounds the window, and so the answer (one row per
// agreement per day).
const maxStatsWindow = 366 * 24 * time.Hour

// statsQuery is what GET /v1/audit/stats asks for.
type statsQuery struct {
	From, To time.Time
	DSA      string
}

// parseStatsQuery reads from, to (RFC 3339, or YYYY-MM-DD: from that day's
// start, to the end of that day) and dsa; without from the window is the
// 30 days before to, without to it ends now.
func parseStatsQuery(q url.Values, now time.Time) (statsQuery, error) {
	var sq statsQuery
	for k, vs := range q {
		v := vs[0]
		if len(v) > 256 || !record.Printable(v) {
			return sq, errBadRequest("query parameter " + k + " must be printable text of at most 256 bytes")
		}
	}
	parse := func(k string, end bool) (time.Time, error) {
		v := q.Get(k)
		if v == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			if end {
				t = t.AddDate(0, 0, 1)
			}
			return t, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, errBadRequest(k + " must be an RFC 3339 time such as 2026-01-31T00:00:00Z or a date such as 2026-01-31")
		}
		return t.UTC(), nil
	}
	var err error
	if sq.From, err = parse("from", false); err != nil {
		return sq, err
	}
	if sq.To, err = parse("to", true); err != nil {
		return sq, err
	}
	if sq.To.IsZero() {
		sq.To = now.UTC()
	}
	if sq.From.IsZero() {
		sq.From = sq.To.Add(-defaultStatsWindow)
	}
	switch {
	case !sq.From.Before(sq.To):
		return sq, errBadRequest("from must be before to")
	case sq.To.Sub(sq.From) > maxStatsWindow:
		return sq, errBadRequest("the window from..to is at most 366 days")
	}
	sq.DSA = q.Get("dsa")
	return sq, nil
}

// auditStats: GET /v1/audit/stats — counts over the entries of this node's
// log in the caller's audit scope, for charts. What counts (docs/api.md):
//   - a disclosure is an entry of operation "disclosure" with a 2xx status
//     (record content given to another agency: a read by a recipient, a
//     share, a consent approval or request answer that disclosed, a
//     federation delivery), not later corrected as not completed;
//   - a denial is an entry of operation "denial" (refused by the policy or
//     before it: authentication, bad input, unknown record);
//   - denials by reason use the policy's reason codes; a refusal without a
//     policy decision counts under "refused_<status>";
//   - top agencies count every entry by its acting agency;
//   - overdue reviews count the records the caller's agency originated
//     whose review date has passed (the index), overdue requests the open
//     requests for information past their deadline that the caller's
//     agency holds or filed (or any, for a federation auditor).
func (s *Server) auditStats(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	scope, err := s.allowAudit(r, rc)
	if err != nil {
		return err
	}
	q, err := strictQuery(r, auditStatsParams...)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	sq, err := parseStatsQuery(q, now)
	if err != nil {
		return err
	}
	out, err := s.countAudit(scope, sq)
	if err != nil {
		return err
	}
	if out.OverdueReviews, err = s.overdueReviews(r, rc.agency, now); err != nil {
		return err
	}
	if out.OverdueRequests, err = s.overdueRequests(r, scope, now); err != nil {
		return err
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// countAudit scans the log once and counts what AuditStats shows.
func (s *Server) countAudit(scope *audit.Scope, sq statsQuery) (*api.AuditStats, error) {
	f := audit.Filter{Scope: scope, From: sq.From, To: sq.To, DSA: sq.DSA}
	type key struct{ dsa, day string }
	type disclosure struct {
		seq  uint64
		keys []key
	}
	var disclosures []disclosure
	corrected := map[uint64]bool{}
	denials := map[key]int{}
	reasons := map[string]*api.ReasonCount{}
	agencies := map[string]int{}
	entries := 0
	keysOf := func(ev *audit.Event) []key {
		day := ev.Time.UTC().Format(time.DateOnly)
		if len(ev.DSAIDs) == 0 {
			return []key{{"", day}}
		}
		var ks []key
		for _, d := range ev.DSAIDs {
			if sq.DSA == "" || d == sq.DSA {
				ks = append(ks, key{d, day})
			}
		}
		return ks
	}
	err := audit.Scan(s.cfg.Audit.Path, func(ev *audit.Event, _ []byte) error {
		if ev.Corrects != 0 {
			corrected[ev.Corrects] = true
		}
		// Match checks the scope; Sees again so that nothing outside it
		// is ever counted, whatever the filter code does.
		if !f.Match(ev) || !scope.Sees(ev) {
			return nil
		}
		entries++
		if ev.Agency != "" {
			agencies[ev.Agency]++
		}
		switch {
		case ev.Operation == audit.OpDisclosure && ev.Status >= 200 && ev.Status < 300 && ev.Corrects == 0:
			disclosures = append(disclosures, disclosure{ev.Seq, keysOf(ev)})
		case ev.Operation == audit.OpDenial:
			for _, k := range keysOf(ev) {
				denials[k]++
			}
			for _, rs := range denialReasons(ev) {
				rc := reasons[rs.Code]
				if rc == nil {
					rc = &api.ReasonCount{Code: rs.Code, Message: rs.Message}
					reasons[rs.Code] = rc
				}
				rc.Count++
			}
		}
		return nil
	})
	if err != nil {
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	out := &api.AuditStats{Gateway: s.cfg.GatewayID, From: sq.From, To: sq.To, Entries: entries,
		PerDSADay: []api.DSADayCount{}, DenialsByReason: []api.ReasonCount{}, TopAgencies: []api.AgencyCount{}}
	rows := map[key]*api.DSADayCount{}
	row := func(k key) *api.DSADayCount {
		r := rows[k]
		if r == nil {
			r = &api.DSADayCount{DSA: k.dsa, Day: k.day}
			rows[k] = r
		}
		return r
	}
	for _, d := range disclosures {
		if corrected[d.seq] {
			continue // a disclosure that did not complete
		}
		for _, k := range d.keys {
			row(k).Disclosures++
		}
	}
	for k, n := range denials {
		row(k).Denials += n
	}
	for _, r := range rows {
		out.PerDSADay = append(out.PerDSADay, *r)
	}
	slices.SortFunc(out.PerDSADay, func(a, b api.DSADayCount) int {
		return cmp.Or(cmp.Compare(a.Day, b.Day), cmp.Compare(a.DSA, b.DSA))
	})
	for _, r := range reasons {
		out.DenialsByReason = append(out.DenialsByReason, *r)
	}
	slices.SortFunc(out.DenialsByReason, func(a, b api.ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	for a, n := range agencies {
		out.TopAgencies = append(out.TopAgencies, api.AgencyCount{Agency: a, Count: n})
	}
	slices.SortFunc(out.TopAgencies, func(a, b api.AgencyCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Agency, b.Agency))
	})
	if len(out.TopAgencies) > 10 {
		out.TopAgencies = out.TopAgencies[:10]
	}
	return out, nil
}

// denialReasons are the reasons a denial counts under: the policy's, or,
// for a refusal before any decision, one named by its status.
func denialReasons(ev *audit.Event) []audit.Reason {
	if d := ev.Decision; d != nil && !d.Allow && len(d.Reasons) > 0 {
		return d.Reasons
	}
	msg := http.StatusText(ev.Status)
	if msg == "" {
		msg = "no answer"
	}
	return []audit.Reason{{Code: "refused_" + strconv.Itoa(ev.Status), Message: "refused before a policy decision: " + strings.ToLower(msg)}}
}

// overdueScanRounds bounds the index pages one count reads.
const overdueScanRounds = 10

// overdueReviews counts the active records agency originated whose MoPI
// review date is before today (UTC): reviews are the originator's duty.
func (s *Server) overdueReviews(r *http.Request, agency string, now time.Time) (int, error) {
	ix := s.records.Index()
	if ix == nil {
		return 0, nil
	}
	yesterday := now.AddDate(0, 0, -1).Format(time.DateOnly)
	iq := index.Query{Reader: agency, Originators: []string{agency}, ReviewTo: yesterday, Limit: 10000}
	n := 0
	for range overdueScanRounds {
		hits, err := ix.Query(r.Context(), iq)
		if err != nil {
			return 0, backendProblem(err)
		}
		n += len(hits)
		if len(hits) < iq.Limit {
			break
		}
		iq.After = hits[len(hits)-1].RecordID
	}
	return n, nil
}

// overdueRequests counts the open requests for information past their
// deadline that the scope's agency holds or filed, or under one of its
// agreements (every one, for a federation auditor).
func (s *Server) overdueRequests(r *http.Request, scope *audit.Scope, now time.Time) (int, error) {
	ids, err := s.records.PendingRequestIDs(r.Context(), maxOverdueScan)
	if err != nil {
		return 0, backendProblem(err)
	}
	n := 0
	for _, id := range ids {
		rq, err := s.records.LoadRequest(r.Context(), id)
		if err != nil {
			continue // gone since it was listed; the metrics scrape clears it
		}
		inScope := scope.All || rq.Holder == scope.Agency || rq.Requester == scope.Agency || slices.Contains(scope.DSAs, rq.DSA)
		if inScope && rq.Pending() && rq.Overdue(now) {
			n++
		}
	}
	return n, nil
}

// ---- POST /v1/audit/evidence ------------------------------------------------

// auditEvidence: POST /v1/audit/evidence — a signed evidence pack of the
// entries of this node's log about one record or one agreement, in the
// caller's audit scope only, each with its inclusion proof against the
// latest signed checkpoint, signed by the gateway's signing key.
func (s *Server) auditEvidence(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	scope, err := s.allowAudit(r, rc)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req api.EvidenceRequest
	if err := decodeJSON(body, &req, `body must be {"record": "…"} or {"dsa": "…"}, with optional "from" and "to"`); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return errBadRequest(err.Error())
	}
	for name, v := range map[string]string{"record": req.Record, "dsa": req.DSA} {
		if len(v) > 256 || !record.Printable(v) {
			return errBadRequest(name + " must be printable text of at most 256 bytes")
		}
	}
	f := audit.Filter{RecordID: req.Record, DSA: req.DSA, Scope: scope}
	if req.From != nil {
		f.From = req.From.UTC()
	}
	if req.To != nil {
		f.To = req.To.UTC()
	}
	ps, ok := s.signer.(audit.PackSigner)
	if !ok {
		return errInternal(errors.New("the gateway's signer cannot sign evidence packs"))
	}
	// The pack comes from the prover the gateway keeps for proofs: the log
	// was verified once for its latest checkpoint, not again per pack.
	pr, err := s.prover()
	if err != nil {
		return err
	}
	if pr == nil {
		return s.errNotYetSigned(nil)
	}
	pack, err := pr.Export(f, s.now())
	switch {
	case errors.Is(err, audit.ErrNotSigned):
		return s.errNotYetSigned(err)
	case err != nil:
		return backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	// Whatever the export's filter does, no entry outside the scope
	// leaves: each entry's own bytes are checked before the pack is signed.
	kept := pack.Entries[:0]
	for _, e := range pack.Entries {
		var ev audit.Event
		if json.Unmarshal([]byte(e.Leaf), &ev) == nil && scope.Sees(&ev) {
			kept = append(kept, e)
		}
	}
	pack.Entries = kept
	if pack.Entries == nil {
		pack.Entries = []audit.PackEntry{}
	}
	for i := range pack.Uncovered {
		pack.Uncovered[i].Reason = "newer than the log's last signed checkpoint: the gateway signs one within its checkpoint interval; export again then"
	}
	if err := pack.Sign(ps); err != nil {
		return errInternal(err)
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pack)
	return nil
}

// ---- GET /v1/policy, /v1/policy/reloads ------------------------------------

// maxReloads bounds the reload history returned (newest first).
const maxReloads = 500

// shadowEngine is the policy engine in shadow mode (policy/shadow).
type shadowEngine interface {
	CandidateRevision() string
	Since() time.Time
	Stats() shadow.Stats
}

// policySource says where the policy in force was loaded from.
func (s *Server) policySource() string {
	switch {
	case s.cfg.Policy.Bundle != "":
		return "bundle " + s.cfg.Policy.Bundle
	case s.cfg.Policy.Dir != "":
		return s.cfg.Policy.Dir
	}
	return "embedded"
}

// policyStatus: GET /v1/policy — the revision in force, when it was loaded
// (the newest applied reload of that revision in the audit log, or, for
// the revision the gateway started with, when it started) and where from,
// and the candidate when one runs in shadow mode.
func (s *Server) policyStatus(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := s.allowInspect(r, rc); err != nil {
		return err
	}
	if _, err := strictQuery(r); err != nil {
		return err
	}
	rev := s.policy.Revision()
	out := api.PolicyStatus{Gateway: s.cfg.GatewayID, Revision: rev, Source: s.policySource(), LoadedAt: s.started}
	reloads, err := s.reloads(0)
	if err != nil {
		return err
	}
	for _, rl := range reloads {
		if rl.Applied && rl.Kind != "suite" && rl.NewRevision == rev {
			out.LoadedAt = rl.Time
			break
		}
	}
	if sh, ok := s.policy.(shadowEngine); ok {
		out.Shadow = &api.ShadowStatus{CandidateRevision: sh.CandidateRevision(), Since: sh.Since()}
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// policyReloads: GET /v1/policy/reloads — every policy and policy-data
// reload attempt and background suite verdict, newest first, from the
// audit log (at most maxReloads).
func (s *Server) policyReloads(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := s.allowInspect(r, rc); err != nil {
		return err
	}
	if _, err := strictQuery(r); err != nil {
		return err
	}
	items, err := s.reloads(maxReloads)
	if err != nil {
		return err
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PolicyReloads{Gateway: s.cfg.GatewayID, Items: items})
	return nil
}

// The messages gateway.AuditPolicyReload writes, read back for the
// revisions an entry names.
var (
	reReloadApplied  = regexp.MustCompile(`^policy (?:data )?(\S+) replaced by (\S+) from `)
	reReloadRejected = regexp.MustCompile(`^change to (\S+) from .* rejected; (\S+) stays in force$`)
)

// reloads reads the reload entries of the log, newest first (all if limit is 0).
func (s *Server) reloads(limit int) ([]api.PolicyReload, error) {
	var out []api.PolicyReload
	err := audit.Scan(s.cfg.Audit.Path, func(ev *audit.Event, _ []byte) error {
		if ev.Action != "policy.reload" && ev.Action != "policy.suite" {
			return nil
		}
		out = append(out, reloadOf(ev))
		return nil
	})
	if err != nil {
		return nil, backendProblem(fmt.Errorf("%w: %v", audit.ErrUnavailable, err))
	}
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []api.PolicyReload{}
	}
	return out, nil
}

// reloadOf reads one reload entry (gateway.AuditPolicyReload).
func reloadOf(ev *audit.Event) api.PolicyReload {
	rl := api.PolicyReload{Seq: ev.Seq, Time: ev.Time, Kind: "policy", Trigger: strings.TrimPrefix(ev.Route, "policy:"), Reasons: []audit.Reason{}}
	if d := ev.Decision; d != nil {
		rl.Applied, rl.NewRevision = d.Allow, d.Revision
		if d.Reasons != nil {
			rl.Reasons = d.Reasons
		}
	}
	if ev.Action == "policy.suite" {
		rl.Kind = "suite"
	}
	for _, rs := range rl.Reasons {
		switch rs.Code {
		case "policy_data_reloaded":
			rl.Kind = "data"
		}
		if m := reReloadApplied.FindStringSubmatch(rs.Message); m != nil {
			rl.OldRevision = m[1]
		} else if m := reReloadRejected.FindStringSubmatch(rs.Message); m != nil {
			rl.OldRevision = m[2]
		}
	}
	return rl
}

// ---- GET /v1/policy/shadow --------------------------------------------------

// maxShadowChanges bounds the changes a shadow report lists (the newest);
// the counts by action and by code cover every change in the file.
const maxShadowChanges = 1000

// maxShadowLine bounds one line of the report or inputs file.
const maxShadowLine = 16 << 20

// errShadowOff: no candidate policy runs.
func errShadowOff() *Problem {
	return problem(http.StatusNotFound, "shadow-off", "Shadow mode is off",
		"no candidate policy runs beside the live one on this gateway (policy.shadow_dir)")
}

// policyShadow: GET /v1/policy/shadow — the shadow report (policy.shadow_report,
// one shadow.Change per line), counted by action and reason code like
// `liaison policy replay`, with the newest changes and, when the gateway
// records them (policy.shadow_inputs), the input of each listed change.
func (s *Server) policyShadow(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := s.allowInspect(r, rc); err != nil {
		return err
	}
	if _, err := strictQuery(r); err != nil {
		return err
	}
	sh, ok := s.policy.(shadowEngine)
	if !ok || s.cfg.Policy.ShadowReport == "" {
		return errShadowOff()
	}
	rep, err := readShadowReport(s.cfg.Policy.ShadowReport)
	if err != nil {
		return backendProblem(fmt.Errorf("%w: shadow report: %v", audit.ErrUnavailable, err))
	}
	rep.LiveRevision, rep.CandidateRevision = s.policy.Revision(), sh.CandidateRevision()
	// Without recorded inputs, how many were compared is known for this
	// process only; with them, per action and across restarts.
	rep.Inputs = int(sh.Stats().Compared)
	out := api.ShadowReport{Gateway: s.cfg.GatewayID, Report: *rep}
	if p := s.cfg.Policy.ShadowInputs; p != "" {
		want := map[string]bool{}
		for _, c := range rep.Changes {
			want[c.InputDigest] = true
		}
		var perAction map[string]int
		if out.Inputs, perAction, err = readShadowInputs(p, want); err != nil {
			return backendProblem(fmt.Errorf("%w: shadow inputs: %v", audit.ErrUnavailable, err))
		}
		out.Report.Inputs = 0
		for a, n := range perAction {
			out.Report.Inputs += n
			i := slices.IndexFunc(out.Report.ByAction, func(x shadow.ActionChanges) bool { return x.Action == a })
			if i < 0 {
				out.Report.ByAction = append(out.Report.ByAction, shadow.ActionChanges{Action: a})
				i = len(out.Report.ByAction) - 1
			}
			out.Report.ByAction[i].Inputs = n
		}
		slices.SortFunc(out.Report.ByAction, func(a, b shadow.ActionChanges) int { return cmp.Compare(a.Action, b.Action) })
	}
	if err := s.consulted(r, rc); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readShadowReport aggregates the report file as shadow.Replay does, and
// keeps the newest maxShadowChanges changes, newest first. A line that is
// not a Change (a write cut short) is listed in Malformed, not fatal.
func readShadowReport(path string) (*shadow.ReplayReport, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &shadow.ReplayReport{Changes: []shadow.Change{}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return aggregateShadow(f, filepath.Base(path))
}

func aggregateShadow(f io.Reader, name string) (*shadow.ReplayReport, error) {
	rep := &shadow.ReplayReport{}
	var t shadow.Tally
	var ring []shadow.Change
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxShadowLine)
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var c shadow.Change
		if err := json.Unmarshal(raw, &c); err != nil || c.InputDigest == "" {
			rep.Malformed = append(rep.Malformed, policy.Problem{File: name, Line: line, Kind: "change", Message: "not a shadow change"})
			continue
		}
		rep.Changed++
		t.Add(cmp.Or(c.Action, "(none)"), &c)
		ring = append(ring, c)
		if len(ring) > 2*maxShadowChanges {
			ring = append(ring[:0], ring[len(ring)-maxShadowChanges:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ring) > maxShadowChanges {
		ring = ring[len(ring)-maxShadowChanges:]
	}
	slices.Reverse(ring)
	rep.Changes = append([]shadow.Change{}, ring...)
	rep.ByAction, rep.ByCode = t.ByAction(), t.ByCode()
	return rep, nil
}

// readShadowInputs returns, by digest, the recorded inputs (the inputs
// file of shadow.Options.Inputs) of the digests wanted, and how many
// inputs of each action the file holds.
func readShadowInputs(path string, want map[string]bool) (map[string]json.RawMessage, map[string]int, error) {
	out, perAction := map[string]json.RawMessage{}, map[string]int{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, perAction, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxShadowLine)
	for sc.Scan() {
		var ri struct {
			InputDigest string          `json:"input_digest"`
			Input       json.RawMessage `json:"input"`
		}
		if json.Unmarshal(sc.Bytes(), &ri) != nil || len(ri.Input) == 0 {
			continue
		}
		var in struct {
			Action string `json:"action"`
		}
		_ = json.Unmarshal(ri.Input, &in)
		perAction[cmp.Or(shadowActionName(in.Action), "(none)")]++
		if want[ri.InputDigest] {
			out[ri.InputDigest] = ri.Input
		}
	}
	return out, perAction, sc.Err()
}

// shadowActionName keeps an action name only if it looks like one (the
// inputs file holds what officers sent, and the counts are shown).
func shadowActionName(a string) string {
	if len(a) > 64 {
		return ""
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r == '.' || r == '_') {
			return ""
		}
	}
	return a
}
