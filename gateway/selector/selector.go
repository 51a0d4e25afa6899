// Package selector (placeholder until the normalisation package lands).
package selector

// Selector is one typed selector as written in metadata or a search request.
type Selector struct {
	Type         string `json:"type"`
	Value        string `json:"value,omitempty"`
	Country      string `json:"country,omitempty"`
	DocumentType string `json:"document_type,omitempty"`
	Name         string `json:"name,omitempty"`
	DateOfBirth  string `json:"date_of_birth,omitempty"`
}

// Normalized is a selector's canonical form.
type Normalized struct{ Type, Canonical string }

// Key is a blind-index key.
type Key struct {
	Version int
	Secret  []byte
}
