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

// Normalize is a placeholder until the normalisation package lands.
func Normalize(s Selector, defaultRegion string) (Normalized, error) {
	return Normalized{Type: s.Type, Canonical: s.Type + ":" + s.Value + s.Name + s.DateOfBirth}, nil
}

// Blind is a placeholder until the normalisation package lands.
func (k Key) Blind(n Normalized) []byte { return []byte(n.Canonical) }
