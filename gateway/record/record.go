// Package record is Liaison's record model: the metadata an originator puts
// on an intelligence record (classification, TLP, grading, handling codes,
// purposes, DSAs, recipients), its validation against a JSON Schema, record
// ids, and the metadata digest that the content encryption is bound to.
package record

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/liaison-project/liaison/gateway/selector"
)

// Meta is a record's metadata as stored and as given to the policy. The
// server sets RecordID, Version, Created and Originator; the publisher sets
// the rest. Field order is fixed by the struct, so json.Marshal of a Meta is
// deterministic and can be digested.
type Meta struct {
	RecordID            string         `json:"record_id"`
	Version             int            `json:"version"`
	Created             string         `json:"created"`
	Originator          Originator     `json:"originator"`
	Classification      Classification `json:"classification"`
	TLP                 string         `json:"tlp"`
	Grading             Grading        `json:"grading"`
	Handling            Handling       `json:"handling"`
	AllowedPurposes     []string       `json:"allowed_purposes"`
	DataSubjectCategory string         `json:"data_subject_category"`
	ContentBasis        string         `json:"content_basis"`
	SensitiveProcessing bool           `json:"sensitive_processing,omitempty"`
	SourceType          string         `json:"source_type,omitempty"`
	MopiGroup           int            `json:"mopi_group,omitempty"`
	DSAIDs              []string       `json:"dsa_ids"`
	Recipients          []string       `json:"recipients"`
	// OCGIDs are organised crime group references.
	OCGIDs []string `json:"ocg_ids,omitempty"`
	// Selectors are typed selectors (personal data). They are never stored
	// in the clear metadata: the record store seals them with the content
	// and signs the ciphertext, the index keeps blind values only, and the
	// policy input and Digest leave them out (their integrity is the
	// seal's AAD and the signature's).
	Selectors       []selector.Selector `json:"selectors,omitempty"`
	ProtectedFields []string            `json:"protected_fields,omitempty"`
	ReviewDue       string              `json:"review_due"`
	Tags            json.RawMessage     `json:"tags,omitempty"`
	// Import says why a record arrives with a review date already past:
	// it was migrated from another system, not created now (MoPI review,
	// docs/review.md). Part of the signed metadata.
	Import *Import `json:"import,omitempty"`
	// Consents are the originator's approvals of onward sharing, each with
	// the digest of its signed receipt (server-set; later decisions check them).
	Consents []ConsentRef `json:"consents,omitempty"`
}

// HandlingSnapshot is the part of the metadata that says how the record
// must be handled — what audit entries and federation envelopes keep of a
// record, never content.
func (m *Meta) HandlingSnapshot() json.RawMessage {
	b, err := json.Marshal(struct {
		Classification Classification `json:"classification"`
		TLP            string         `json:"tlp,omitempty"`
		Grading        Grading        `json:"grading"`
		Handling       Handling       `json:"handling"`
	}{m.Classification, m.TLP, m.Grading, m.Handling})
	if err != nil {
		return nil
	}
	return b
}

// Import is the publisher's account of a record migrated from another
// system: a record whose review date has already passed may be published
// only with one (an overdue record is then flagged at once, never hidden).
type Import struct {
	// Reason says why the review date is in the past (printable text).
	Reason string `json:"reason"`
	// SourceSystem names the system the record comes from.
	SourceSystem string `json:"source_system,omitempty"`
}

// ConsentRef records one approved onward share in the metadata.
type ConsentRef struct {
	ID            string   `json:"id"`
	RequestedBy   string   `json:"requested_by"`
	Recipients    []string `json:"recipients"`
	ApprovedBy    string   `json:"approved_by"`
	ApprovedAt    string   `json:"approved_at"`
	ReceiptDigest string   `json:"receipt_digest"`
}

// Originator is the agency (and officer, when one was identified) that published the record.
type Originator struct {
	OrgID      string `json:"org_id"`
	OfficerRef string `json:"officer_ref,omitempty"`
}

// Classification is the UK GSC marking with its caveats.
type Classification struct {
	Tier                 string          `json:"tier"`
	Sensitive            bool            `json:"sensitive,omitempty"`
	UKPrefix             bool            `json:"uk_prefix,omitempty"`
	Descriptors          []string        `json:"descriptors,omitempty"`
	HandlingInstructions []string        `json:"handling_instructions,omitempty"`
	EyesOnly             []string        `json:"eyes_only,omitempty"`
	RelTo                []string        `json:"rel_to,omitempty"`
	Foreign              json.RawMessage `json:"foreign,omitempty"`
}

// Grading is the 3x5x2 evaluation (with the legacy and Europol codes kept when given).
type Grading struct {
	Source       string          `json:"source"`
	Intelligence string          `json:"intelligence"`
	Legacy5x5x5  string          `json:"legacy_5x5x5,omitempty"`
	Europol      json.RawMessage `json:"europol,omitempty"`
}

// Handling is the 3x5x2 handling code with its action, sanitisation and structured conditions.
type Handling struct {
	Code             string      `json:"code"`
	ActionCode       string      `json:"action_code,omitempty"`
	A3Usage          string      `json:"a3_usage,omitempty"`
	SanitisationCode string      `json:"sanitisation_code,omitempty"`
	EuropolCodes     []string    `json:"europol_codes,omitempty"`
	Conditions       *Conditions `json:"conditions,omitempty"`
}

// Conditions are the structured conditions of handling code C.
type Conditions struct {
	AllowedRecipientOrgs  []string `json:"allowed_recipient_orgs,omitempty"`
	AllowedRecipientTypes []string `json:"allowed_recipient_types,omitempty"`
	NoOnwardDissemination bool     `json:"no_onward_dissemination,omitempty"`
	NoJudicialUse         bool     `json:"no_judicial_use,omitempty"`
	OriginatingAgencyOnly bool     `json:"originating_agency_only,omitempty"`
	IntelligenceUseOnly   bool     `json:"intelligence_use_only,omitempty"`
	Expires               string   `json:"expires,omitempty"`
	FreeText              string   `json:"free_text,omitempty"`
}

// PublishRequest is a validated POST /v1/records body.
type PublishRequest struct {
	Meta    Meta            `json:"meta"`
	Content json.RawMessage `json:"content"` // a non-empty JSON object, compacted

	// wellFormed: ParsePublish has checked that Content is well-formed
	// JSON, so CheckProtectedFields need not scan it again.
	wellFormed bool
}

// FieldError names one invalid field of a request by JSON pointer.
type FieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// ValidationError lists every invalid field of a request.
type ValidationError struct{ Fields []FieldError }

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Pointer+": "+f.Detail)
	}
	return "record: invalid request: " + strings.Join(parts, "; ")
}

//go:embed publish.schema.json
var publishSchemaJSON []byte

var publishSchema = mustCompile()

// printer renders schema errors in English (the library localises).
var printer = message.NewPrinter(language.English)

func mustCompile() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(publishSchemaJSON))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // dates and date-times must really be dates
	const url = "https://liaison.dev/schemas/publish.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		panic(err)
	}
	return c.MustCompile(url)
}

// PublishSchema returns the JSON Schema that publish requests are validated against.
func PublishSchema() []byte { return bytes.Clone(publishSchemaJSON) }

// ParsePublish parses and validates a publish body. A syntax error or a
// schema violation yields a *ValidationError naming every bad field.
//
// The content is never decoded into values: only the metadata is, for the
// schema, and the content's rules (an object with at least one member,
// checked by TestContentSchemaIsWhatParsePublishChecks) are checked on its
// first bytes. It is kept byte for byte as the originator sent it. For a
// large record that is two scans instead of five.
func ParsePublish(body []byte) (*PublishRequest, error) {
	// One validating scan (json.Valid, which allocates nothing), then one
	// scan that checks the text and splits the top-level object into its
	// members without copying them: the content, most of a large body, is
	// kept as a slice of body from here to the sealed record (it used to be
	// copied by json.Unmarshal into a json.RawMessage). Anything that is not
	// a well-formed object goes to the slow path, which words the error.
	if !json.Valid(body) {
		return parsePublishSlow(body)
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return parsePublishSlow(body)
	}
	top, fe := splitTopObject(body)
	if fe != nil {
		return nil, &ValidationError{Fields: []FieldError{*fe}}
	}
	doc := make(map[string]any, len(top))
	var content []byte
	for k, v := range top {
		if k != "content" {
			d, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
			if err != nil {
				return parsePublishSlow(body)
			}
			doc[k] = d
			continue
		}
		// The decoder has checked its syntax; only its shape is left.
		content = bytes.TrimSpace(v)
		if len(content) == 0 || content[0] != '{' {
			// Not an object: let the schema say so, in its words.
			return parsePublishSlow(body)
		}
		if rest := bytes.TrimSpace(content[1:]); len(rest) == 0 {
			return parsePublishSlow(body)
		} else if rest[0] == '}' {
			doc[k] = map[string]any{}
		} else {
			doc[k] = map[string]any{"": nil} // stands in for "at least one member"
		}
	}
	if err := validatePublish(doc); err != nil {
		return nil, err
	}
	var m Meta
	if err := strictDecode(top["meta"], &m); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Pointer: "/meta", Detail: err.Error()}}}
	}
	return &PublishRequest{Meta: m, Content: content, wellFormed: true}, nil
}

// parsePublishSlow decodes the whole body for the schema: the path for
// bodies that fail early, so their errors read exactly as the schema words
// them.
func parsePublishSlow(body []byte) (*PublishRequest, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Pointer: "", Detail: "malformed JSON: " + syntaxDetail(err)}}}
	}
	if !json.Valid(body) {
		return nil, &ValidationError{Fields: []FieldError{{Pointer: "", Detail: "malformed JSON: unexpected data after the JSON value"}}}
	}
	if fe := CheckText(body); fe != nil {
		return nil, &ValidationError{Fields: []FieldError{*fe}}
	}
	if err := validatePublish(doc); err != nil {
		return nil, err
	}
	var raw struct {
		Meta    json.RawMessage `json:"meta"`
		Content json.RawMessage `json:"content"`
	}
	if err := strictDecode(body, &raw); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Pointer: "", Detail: err.Error()}}}
	}
	var m Meta
	if err := strictDecode(raw.Meta, &m); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Pointer: "/meta", Detail: err.Error()}}}
	}
	return &PublishRequest{Meta: m, Content: bytes.TrimSpace(raw.Content), wellFormed: true}, nil
}

func validatePublish(doc any) error {
	if err := publishSchema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("record: schema validation: %w", err)
		}
		return &ValidationError{Fields: flatten(ve)}
	}
	return nil
}

func syntaxDetail(err error) string {
	// The parser's message names the offset, never the content.
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return "not a JSON document"
}

// flatten turns the schema validator's tree into one error per failing
// leaf, sorted by pointer, so a client sees every bad field at once.
func flatten(ve *jsonschema.ValidationError) []FieldError {
	seen := map[string]bool{}
	var fields []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := ""
		for _, tok := range e.InstanceLocation {
			ptr += "/" + strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
		}
		msg := e.ErrorKind.LocalizedString(printer)
		if k := ptr + "\x00" + msg; !seen[k] {
			seen[k] = true
			fields = append(fields, FieldError{Pointer: ptr, Detail: msg})
		}
	}
	walk(ve)
	sort.SliceStable(fields, func(i, j int) bool { return fields[i].Pointer < fields[j].Pointer })
	return fields
}

// Digest returns "sha256:<hex>" over the canonical JSON of m without its
// selectors (they are stored sealed, bound to this digest by their AAD). Content
// encryption binds this digest in its AAD, so metadata and content cannot be
// recombined across records or versions.
func (m *Meta) Digest() (string, error) {
	c := *m
	c.Selectors = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Readers returns the agencies that may find the record in a listing: its
// originator and its explicit recipients, de-duplicated.
func (m *Meta) Readers() []string {
	out := []string{m.Originator.OrgID}
	for _, r := range m.Recipients {
		if r != m.Originator.OrgID {
			out = append(out, r)
		}
	}
	return out
}

// Crockford's base32 alphabet in lower case: ids must be valid object-store
// key segments, and avoiding i, l, o and u keeps them unambiguous when read aloud.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// IDPrefix starts every record id.
const IDPrefix = "rec_"

// ConsentPrefix starts every consent request id.
const ConsentPrefix = "con_"

// NewID returns a fresh record id: "rec_" + 26 base32 characters (48 bits
// of milliseconds then 80 random bits), so ids sort by creation time and
// cursor paging over them is stable.
func NewID(now time.Time) string { return IDPrefix + timeOrderedID(now) }

// NewConsentID returns a fresh consent request id, shaped like a record id.
func NewConsentID(now time.Time) string { return ConsentPrefix + timeOrderedID(now) }

// ValidConsentID reports whether s is a well-formed consent request id.
func ValidConsentID(s string) bool { return validPrefixed(s, ConsentPrefix) }

// RequestPrefix starts every request-for-information id (docs/requests.md).
const RequestPrefix = "req_"

// NewRequestID returns a fresh request-for-information id, shaped like a
// record id: time-ordered, so an agency's queue lists oldest first.
func NewRequestID(now time.Time) string { return RequestPrefix + timeOrderedID(now) }

// ValidRequestID reports whether s is a well-formed request-for-information id.
func ValidRequestID(s string) bool { return validPrefixed(s, RequestPrefix) }

// MessagePrefix starts every federation message id.
const MessagePrefix = "msg_"

// NewMessageID returns a fresh federation message id, shaped like a record
// id (time-ordered, 80 random bits).
func NewMessageID(now time.Time) string { return MessagePrefix + timeOrderedID(now) }

// ValidMessageID reports whether s is a well-formed federation message id.
func ValidMessageID(s string) bool { return validPrefixed(s, MessagePrefix) }

func timeOrderedID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic("record: crypto/rand failed: " + err.Error())
	}
	// 128 bits → 26 base32 chars (130 bits; the top two are zero).
	var out [26]byte
	var acc uint64
	var hi = uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	var lo = uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	for i := 25; i >= 0; i-- {
		acc = lo & 31
		out[i] = idAlphabet[acc]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ValidID reports whether s is a well-formed record id. Anything else in a
// URL (path tricks, other encodings) is answered 404 without touching storage.
func ValidID(s string) bool { return validPrefixed(s, IDPrefix) }

func validPrefixed(s, prefix string) bool {
	if len(s) != len(prefix)+26 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if strings.IndexByte(idAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
