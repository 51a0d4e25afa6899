package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Scan calls fn with every entry of the log in dir (see LogDir), in seq
// order, with the entry's line. It does not verify (see Verify): it stops
// at the first line that is not an entry, or when fn returns an error, and
// skips an incomplete last line (an append in progress).
func Scan(dir string, fn func(ev *Event, line []byte) error) error {
	dir = LogDir(dir)
	segs, err := listSegments(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for i, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		line := 0
		for off := 0; off < len(data); {
			line++
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				if i == len(segs)-1 {
					break // an append in progress (or torn): not an entry yet
				}
				return fmt.Errorf("audit: %s line %d: incomplete line", s.name, line)
			}
			raw := data[off : off+nl]
			off += nl + 1
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return fmt.Errorf("audit: %s line %d: %v", s.name, line, err)
			}
			if err := fn(&ev, raw); err != nil {
				return err
			}
		}
	}
	return nil
}

// Entry returns entry seq of the log in dir with its line, or nil if the
// log has no such entry. Unlike Scan it decodes only the entry asked for:
// the writer puts "seq" first, so each other line is skipped after reading
// its number (a line in another form is decoded to be sure). Finding an
// entry near the end of a 10,000-entry log takes a few milliseconds
// instead of the ~100 ms of decoding every line (GET /v1/audit/proof).
func Entry(dir string, seq uint64) (*Event, []byte, error) {
	dir = LogDir(dir)
	segs, err := listSegments(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	prefix := []byte(`{"seq":`)
	for _, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return nil, nil, fmt.Errorf("audit: %w", err)
		}
		for off := 0; off < len(data); {
			nl := bytes.IndexByte(data[off:], '\n')
			if nl < 0 {
				break // an append in progress: not an entry yet
			}
			raw := data[off : off+nl]
			off += nl + 1
			if n, ok := leadingSeq(raw, prefix); ok {
				if n < seq {
					continue
				}
				if n > seq {
					return nil, nil, nil // seqs only grow
				}
			}
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, nil, fmt.Errorf("audit: %s: %v", s.name, err)
			}
			switch {
			case ev.Seq == seq:
				return &ev, bytes.Clone(raw), nil
			case ev.Seq > seq:
				return nil, nil, nil
			}
		}
	}
	return nil, nil, nil
}

// leadingSeq reads the number of a line that starts {"seq":N, — the form
// the writer gives every entry.
func leadingSeq(line, prefix []byte) (uint64, bool) {
	if !bytes.HasPrefix(line, prefix) {
		return 0, false
	}
	var n uint64
	i := len(prefix)
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		if i-len(prefix) >= 19 {
			return 0, false // longer than any seq: decode it instead
		}
		n = n*10 + uint64(line[i]-'0')
	}
	if i == len(prefix) || i >= len(line) || line[i] != ',' {
		return 0, false
	}
	return n, true
}

// ReadFile returns every entry of the log at path (its directory, or a
// file in it), for tests and small logs.
func ReadFile(path string) ([]Event, error) {
	var out []Event
	err := Scan(path, func(ev *Event, _ []byte) error {
		out = append(out, *ev)
		return nil
	})
	return out, err
}

// Filter selects entries. Empty fields match everything.
type Filter struct {
	RecordID  string    `json:"record,omitempty"`
	Agency    string    `json:"agency,omitempty"`    // the agency that acted
	Recipient string    `json:"recipient,omitempty"` // an agency something was disclosed to
	Officer   string    `json:"officer,omitempty"`
	DSA       string    `json:"dsa,omitempty"`
	Operation string    `json:"operation,omitempty"`
	Action    string    `json:"action,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Gateway   string    `json:"gateway,omitempty"`
	From      time.Time `json:"from,omitzero"` // inclusive
	To        time.Time `json:"to,omitzero"`   // exclusive
	// AfterSeq skips entries up to this seq (paging within one gateway).
	AfterSeq uint64 `json:"after_seq,omitempty"`
	// HMACKey lets Officer match entries where the officer is HMACed.
	HMACKey []byte `json:"-"`
	// Scope, if set, restricts the query to the entries an auditor may
	// see (GET /v1/audit); the other conditions narrow it further.
	Scope *Scope `json:"scope,omitempty"`
	// Outcome, if set, keeps the entries with this Event.Outcome:
	// "allowed", "denied" or "failed".
	Outcome string `json:"outcome,omitempty"`
}

// Outcomes of an entry (Event.Outcome), for filters and reports.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeFailed  = "failed"
)

// Outcome says in one word how the request the entry records ended:
// denied when the policy refused it or the gateway refused it before or
// after the policy (a denial entry), failed when it was allowed but did not
// complete (an error status), allowed otherwise. The console's decision
// filter and its wording follow this, so that what it shows under
// "Denied" is exactly what GET /v1/audit?outcome=denied returns.
func (ev *Event) Outcome() string {
	switch {
	case ev.Decision != nil && !ev.Decision.Allow, ev.Operation == OpDenial:
		return OutcomeDenied
	case ev.Status >= 400:
		return OutcomeFailed
	}
	return OutcomeAllowed
}

// Scope is the part of the log an auditor may see, as the policy decides
// it (policy.AuditScope): every entry when All; otherwise the entries
// where Agency is the agency that acted, the record's originator or
// controller, or a recipient, and the entries under one of DSAs. An entry
// with none of these (a node-level event) is for federation auditors only.
type Scope struct {
	All    bool     `json:"all,omitempty"`
	Agency string   `json:"agency,omitempty"`
	DSAs   []string `json:"dsas,omitempty"`
}

// Sees reports whether ev is in the scope.
func (s *Scope) Sees(ev *Event) bool {
	if s.All {
		return true
	}
	if a := s.Agency; a != "" && (ev.Agency == a || ev.Originator == a || ev.ControllerID == a || contains(ev.Recipients, a)) {
		return true
	}
	for _, d := range ev.DSAIDs {
		if contains(s.DSAs, d) {
			return true
		}
	}
	return false
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Match reports whether ev passes every condition of f.
func (f *Filter) Match(ev *Event) bool {
	switch {
	case ev.Seq <= f.AfterSeq && f.AfterSeq > 0,
		f.RecordID != "" && !contains(ev.RecordIDs, f.RecordID),
		f.Agency != "" && ev.Agency != f.Agency,
		f.Recipient != "" && !contains(ev.Recipients, f.Recipient),
		f.Officer != "" && !matchValue(ev.Officer, f.Officer, f.HMACKey),
		f.DSA != "" && !contains(ev.DSAIDs, f.DSA),
		f.Operation != "" && ev.Operation != f.Operation,
		f.Action != "" && ev.Action != f.Action,
		f.RequestID != "" && ev.RequestID != f.RequestID,
		f.Gateway != "" && ev.Gateway != f.Gateway,
		!f.From.IsZero() && ev.Time.Before(f.From),
		!f.To.IsZero() && !ev.Time.Before(f.To),
		f.Scope != nil && !f.Scope.Sees(ev),
		f.Outcome != "" && ev.Outcome() != f.Outcome:
		return false
	}
	return true
}

// Query returns the entries of the logs in dirs (one per gateway node) that
// match f, at most limit (0: all). One log's entries come in seq order;
// several logs are merged by time, then gateway, then seq.
func Query(dirs []string, f Filter, limit int) ([]Event, error) {
	var out []Event
	errStop := fmt.Errorf("stop")
	for _, d := range dirs {
		err := Scan(d, func(ev *Event, _ []byte) error {
			if !f.Match(ev) {
				return nil
			}
			out = append(out, *ev)
			if len(dirs) == 1 && limit > 0 && len(out) >= limit {
				return errStop
			}
			return nil
		})
		if err != nil && err != errStop {
			return nil, err
		}
	}
	if len(dirs) > 1 {
		sort.SliceStable(out, func(i, j int) bool {
			a, b := &out[i], &out[j]
			if !a.Time.Equal(b.Time) {
				return a.Time.Before(b.Time)
			}
			if a.Gateway != b.Gateway {
				return a.Gateway < b.Gateway
			}
			return a.Seq < b.Seq
		})
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
	}
	return out, nil
}
