package api

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/liaison-project/liaison/gateway/record"
)

// ListFilter is the query of GET /v1/records (and `liaison records list`):
// every field set narrows the listing (AND); a list field matches records
// having any of its values (OR), written comma-separated in the query
// string. The index narrows the candidates; every record is still decided
// by the policy before it is shown.
type ListFilter struct {
	DSAIDs        []string // dsa
	Originators   []string // originator
	Recipients    []string // recipient
	Operation     string   // operation (tags.operation, exact; one value: names may hold commas)
	OCGIDs        []string // ocg
	FourP         []string // four_p: PURSUE, PREVENT, PROTECT, PREPARE
	Tiers         []string // tier: OFFICIAL, SECRET, TOP_SECRET
	TLPs          []string // tlp: CLEAR, GREEN, AMBER, AMBER+STRICT, RED
	HandlingCodes []string // handling_code: P, C
	// CreatedFrom (inclusive) and CreatedTo (exclusive): RFC 3339 times or
	// dates (a date is its midnight UTC).
	CreatedFrom, CreatedTo time.Time
	// ReviewFrom and ReviewTo bound review_due (dates, inclusive).
	ReviewFrom, ReviewTo string
	// Review is "due" (due within the review window, not yet passed) or
	// "overdue" (review_due before today).
	Review string
	Limit  int
	Cursor string
}

// ListParams are the query parameters ListFilter reads.
var ListParams = []string{"dsa", "originator", "recipient", "operation", "ocg", "four_p", "tier", "tlp",
	"handling_code", "created_from", "created_to", "review_from", "review_to", "review", "limit", "cursor"}

// Review states.
const (
	ReviewDue     = "due"
	ReviewOverdue = "overdue"
)

var (
	filterID   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)
	filterEnum = map[string][]string{
		"four_p":        {"PURSUE", "PREVENT", "PROTECT", "PREPARE"},
		"tier":          {"OFFICIAL", "SECRET", "TOP_SECRET"},
		"tlp":           {"CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"},
		"handling_code": {"P", "C"},
	}
)

// MaxListLimit is the largest page a client may ask for when it does not
// know the gateway's limits.max_list_limit (the CLI checks filters with it;
// the gateway applies its own).
const MaxListLimit = 1000

// maxFilterValues bounds one list parameter.
const maxFilterValues = 32

// ParseListFilter reads a listing query (q holds each parameter at most
// once: the server's strict query parsing sees to that). An error names the
// parameter and never echoes its value.
func ParseListFilter(q url.Values, maxLimit int) (ListFilter, error) {
	var f ListFilter
	var err error
	ids := func(name string, dst *[]string) {
		if err != nil || !q.Has(name) {
			return
		}
		vs := strings.Split(q.Get(name), ",")
		if len(vs) > maxFilterValues {
			err = fmt.Errorf("%s: at most %d values", name, maxFilterValues)
			return
		}
		for _, v := range vs {
			ok := filterID.MatchString(v)
			if allowed, isEnum := filterEnum[name]; isEnum {
				ok = slices.Contains(allowed, v)
			}
			if !ok {
				if allowed, isEnum := filterEnum[name]; isEnum {
					err = fmt.Errorf("%s must be one or more of %s, comma-separated", name, strings.Join(allowed, ", "))
				} else {
					err = fmt.Errorf("%s must be one or more identifiers (lower-case letters, digits, '.', '_', '-'), comma-separated", name)
				}
				return
			}
			if !slices.Contains(*dst, v) {
				*dst = append(*dst, v)
			}
		}
	}
	ids("dsa", &f.DSAIDs)
	ids("originator", &f.Originators)
	ids("recipient", &f.Recipients)
	ids("ocg", &f.OCGIDs)
	ids("four_p", &f.FourP)
	ids("tier", &f.Tiers)
	ids("tlp", &f.TLPs)
	ids("handling_code", &f.HandlingCodes)
	if err != nil {
		return f, err
	}
	if q.Has("operation") {
		f.Operation = q.Get("operation")
		if f.Operation == "" || len(f.Operation) > 128 || strings.ContainsFunc(f.Operation, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return f, fmt.Errorf("operation must be 1..128 characters of text")
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created_from", &f.CreatedFrom}, {"created_to", &f.CreatedTo}} {
		if !q.Has(p.name) {
			continue
		}
		t, perr := parseTimeOrDate(q.Get(p.name))
		if perr != nil {
			return f, fmt.Errorf("%s must be an RFC 3339 time or a date (YYYY-MM-DD)", p.name)
		}
		*p.dst = t
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return f, fmt.Errorf("created_from must be before created_to")
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"review_from", &f.ReviewFrom}, {"review_to", &f.ReviewTo}} {
		if !q.Has(p.name) {
			continue
		}
		v := q.Get(p.name)
		if _, perr := time.Parse(time.DateOnly, v); perr != nil {
			return f, fmt.Errorf("%s must be a date (YYYY-MM-DD)", p.name)
		}
		*p.dst = v
	}
	if f.ReviewFrom != "" && f.ReviewTo != "" && f.ReviewFrom > f.ReviewTo {
		return f, fmt.Errorf("review_from must not be after review_to")
	}
	if q.Has("review") {
		f.Review = q.Get("review")
		if f.Review != ReviewDue && f.Review != ReviewOverdue {
			return f, fmt.Errorf("review must be %q or %q", ReviewDue, ReviewOverdue)
		}
	}
	f.Limit = 50
	if q.Has("limit") {
		var n int
		if _, serr := fmt.Sscanf(q.Get("limit"), "%d", &n); serr != nil || fmt.Sprint(n) != q.Get("limit") || n < 1 || n > maxLimit {
			return f, fmt.Errorf("limit must be 1..%d", maxLimit)
		}
		f.Limit = n
	}
	f.Cursor = q.Get("cursor")
	return f, nil
}

func parseTimeOrDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// Values is the query string of f (what the CLI sends).
func (f ListFilter) Values() url.Values {
	q := url.Values{}
	list := func(name string, vs []string) {
		if len(vs) > 0 {
			q.Set(name, strings.Join(vs, ","))
		}
	}
	list("dsa", f.DSAIDs)
	list("originator", f.Originators)
	list("recipient", f.Recipients)
	list("ocg", f.OCGIDs)
	list("four_p", f.FourP)
	list("tier", f.Tiers)
	list("tlp", f.TLPs)
	list("handling_code", f.HandlingCodes)
	if f.Operation != "" {
		q.Set("operation", f.Operation)
	}
	if !f.CreatedFrom.IsZero() {
		q.Set("created_from", f.CreatedFrom.UTC().Format(time.RFC3339))
	}
	if !f.CreatedTo.IsZero() {
		q.Set("created_to", f.CreatedTo.UTC().Format(time.RFC3339))
	}
	if f.ReviewFrom != "" {
		q.Set("review_from", f.ReviewFrom)
	}
	if f.ReviewTo != "" {
		q.Set("review_to", f.ReviewTo)
	}
	if f.Review != "" {
		q.Set("review", f.Review)
	}
	if f.Limit > 0 {
		q.Set("limit", fmt.Sprint(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	return q
}

// ReviewWindow is how far ahead a review date counts as "due".
const ReviewWindow = 30 * 24 * time.Hour

// ReviewBounds turns f's review bounds and state into one inclusive date
// range (""= open) for today (a date): "overdue" is review_due before
// today, "due" is today up to ReviewWindow ahead. ok is false when the
// range is empty.
func (f ListFilter) ReviewBounds(today time.Time) (from, to string, ok bool) {
	from, to = f.ReviewFrom, f.ReviewTo
	d := today.UTC().Truncate(24 * time.Hour)
	narrow := func(lo, hi string) {
		if lo != "" && (from == "" || lo > from) {
			from = lo
		}
		if hi != "" && (to == "" || hi < to) {
			to = hi
		}
	}
	switch f.Review {
	case ReviewOverdue:
		narrow("", d.AddDate(0, 0, -1).Format(time.DateOnly))
	case ReviewDue:
		narrow(d.Format(time.DateOnly), d.Add(ReviewWindow).Format(time.DateOnly))
	}
	return from, to, from == "" || to == "" || from <= to
}

// Matches reports whether m passes f at today: the gateway checks each
// loaded record again, so that an index entry behind its record never
// puts a record in a listing it does not belong in.
func (f ListFilter) Matches(m *record.Meta, today time.Time) bool {
	anyOf := func(want, have []string) bool {
		if len(want) == 0 {
			return true
		}
		for _, h := range have {
			if slices.Contains(want, h) {
				return true
			}
		}
		return false
	}
	var tags struct {
		Operation string   `json:"operation"`
		FourP     []string `json:"four_p"`
	}
	if len(m.Tags) > 0 {
		_ = json.Unmarshal(m.Tags, &tags)
	}
	if !anyOf(f.DSAIDs, m.DSAIDs) || !anyOf(f.Originators, []string{m.Originator.OrgID}) ||
		!anyOf(f.Recipients, m.Recipients) || !anyOf(f.OCGIDs, m.OCGIDs) || !anyOf(f.FourP, tags.FourP) ||
		!anyOf(f.Tiers, []string{m.Classification.Tier}) || !anyOf(f.TLPs, []string{m.TLP}) ||
		!anyOf(f.HandlingCodes, []string{m.Handling.Code}) {
		return false
	}
	if f.Operation != "" && tags.Operation != f.Operation {
		return false
	}
	if !f.CreatedFrom.IsZero() || !f.CreatedTo.IsZero() {
		c, err := time.Parse(time.RFC3339, m.Created)
		if err != nil || (!f.CreatedFrom.IsZero() && c.Before(f.CreatedFrom)) || (!f.CreatedTo.IsZero() && !c.Before(f.CreatedTo)) {
			return false
		}
	}
	from, to, ok := f.ReviewBounds(today)
	if !ok {
		return false
	}
	if from != "" || to != "" {
		if m.ReviewDue == "" || (from != "" && m.ReviewDue < from) || (to != "" && m.ReviewDue > to) {
			return false
		}
	}
	return true
}
