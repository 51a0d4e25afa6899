package api

import (
	"github.com/liaison-project/liaison/gateway/selector"
)

// SearchRequest is the body of POST /v1/search. Purpose, justification and
// case travel in the Liaison-Purpose, Liaison-Justification and
// Liaison-Case headers, as for a read, and are required.
type SearchRequest struct {
	Selectors []selector.Selector `json:"selectors"`
}

// SearchResult is the 200 body of POST /v1/search: one result per
// selector asked, in order.
type SearchResult struct {
	Selectors []SelectorResult `json:"selectors"`
	// Truncated says a selector matched more records than one search
	// considers (search.max_matches): narrow the search.
	Truncated bool `json:"truncated"`
}

func (*SearchResult) bodyName() string { return "search result" }

// Check implements Response.
func (r *SearchResult) Check() error {
	if r.Selectors == nil {
		return missing("selectors")
	}
	for _, s := range r.Selectors {
		if s.Outcome != SearchHit && s.Outcome != SearchNoHit {
			return missing("selectors[].outcome")
		}
	}
	return nil
}

// Search outcomes.
const (
	SearchHit   = "hit"
	SearchNoHit = "no_hit"
)

// SelectorResult is what one selector found.
type SelectorResult struct {
	// Index is the selector's position in the request.
	Index int    `json:"index"`
	Type  string `json:"type"`
	// Outcome is "hit" when anything readable or discoverable matched.
	Outcome string `json:"outcome"`
	// Records are matching records the caller may read (GET them, with a
	// justification, to see content).
	Records []SearchRecord `json:"records"`
	// Hits are matching records the caller may not read but may learn of
	// (Prüm step 1): who holds one, under which agreement, and a
	// reference for a follow-up request for information. Nothing else.
	Hits []SearchHitRef `json:"hits"`
}

// SearchRecord is a readable match.
type SearchRecord struct {
	ID         string `json:"id"`
	Version    int    `json:"version"`
	Originator string `json:"originator"`
}

// SearchHitRef is a hit-only match.
type SearchHitRef struct {
	Holder string `json:"holder"`
	DSA    string `json:"dsa"`
	// Reference names the record to its holder in a request for
	// information (POST /v1/requests); opaque to the searcher.
	Reference string `json:"reference"`
}
