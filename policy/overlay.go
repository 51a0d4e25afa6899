package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
)

// Overlay is data laid over the policy's own data/*.json: the gateway's
// registry (gateway/registry) of agencies added and agreements suspended,
// terminated or renewed through the API. It is merged into the data of
// every load and reload, so a change to the policy directory or bundle
// keeps the overlay, and it goes through the same checks as a data reload
// (schemas, samples) before it takes effect.
//
// Patches maps a top-level data key ("dsas", "agencies", …) to entries by
// id. Each entry is a JSON object whose members replace the members of the
// policy's entry of that id (a member set to null is removed), or a whole
// new entry when the policy has none; an entry that is JSON null removes
// the policy's entry. A top-level key no data file defines is added as a
// file of its own.
type Overlay struct {
	// Version names the overlay in the reload's audit entry and log
	// ("registry v17").
	Version string
	Patches map[string]map[string]json.RawMessage
}

// digest identifies the overlay's content: the watcher's fingerprint
// includes it, so the same source with another overlay is another policy.
func (o *Overlay) digest() string {
	if o == nil || len(o.Patches) == 0 {
		return ""
	}
	b, _ := json.Marshal(o.Patches) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// overlayFile is the data file that holds a top-level key no policy file
// defines (the registry's own enumerations, for example).
func overlayFile(key string) string { return "data/" + key + ".overlay.json" }

// apply merges the overlay into b's data files in place.
func (o *Overlay) apply(b *bundle) error {
	if o == nil {
		return nil
	}
	owner := map[string]string{}
	docs := map[string]map[string]json.RawMessage{}
	for p, src := range b.data {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(src, &doc); err != nil {
			// mergeData reports it with file and line.
			continue
		}
		docs[p] = doc
		for k := range doc {
			owner[k] = p
		}
	}
	keys := make([]string, 0, len(o.Patches))
	for k := range o.Patches {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := owner[k]
		if !ok {
			p = overlayFile(k)
			docs[p] = map[string]json.RawMessage{k: json.RawMessage("{}")}
		}
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(docs[p][k], &entries); err != nil || entries == nil {
			return fmt.Errorf("%w: registry overlay: data.%s in %s is not an object keyed by id", ErrLoad, k, b.display(p))
		}
		for id, patch := range o.Patches[k] {
			merged, err := mergeEntry(entries[id], patch)
			if err != nil {
				return fmt.Errorf("%w: registry overlay: %s %s: %w", ErrLoad, k, id, err)
			}
			if merged == nil {
				delete(entries, id)
				continue
			}
			entries[id] = merged
		}
		raw, err := json.Marshal(entries)
		if err != nil {
			return err
		}
		docs[p][k] = raw
		out, err := json.MarshalIndent(docs[p], "", "  ")
		if err != nil {
			return err
		}
		b.data[p] = out
	}
	return nil
}

// mergeEntry lays patch over base, one level deep: members of patch replace
// those of base, null members are removed. A null patch removes the entry
// (nil result); no base takes the patch as the entry.
func mergeEntry(base, patch json.RawMessage) (json.RawMessage, error) {
	if bytes.Equal(bytes.TrimSpace(patch), []byte("null")) {
		return nil, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(patch, &p); err != nil || p == nil {
		return nil, fmt.Errorf("an overlay entry must be a JSON object or null")
	}
	m := map[string]json.RawMessage{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &m); err != nil || m == nil {
			return nil, fmt.Errorf("the policy's entry is not an object")
		}
	}
	for k, v := range p {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return json.Marshal(m)
}

// SetOverlay lays ov over the policy data and reloads: the data with the
// overlay is checked as a data reload is (schemas, samples) and swapped in
// atomically, and the reload is reported to OnReload (trigger "registry").
// If it is rejected, the previous overlay and policy stay in force and the
// error says why. Later reloads of the directory or bundle keep ov.
func (e *Engine) SetOverlay(ctx context.Context, ov *Overlay) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	prev := e.overlay
	e.overlay = ov
	if err := e.reloadLocked(ctx, "registry", false); err != nil {
		e.overlay = prev
		return err
	}
	return nil
}

// CheckOverlay reports whether ov would be accepted over the policy in
// force, without applying it: the registry refuses an invalid change at
// write time, so that no replica is ever asked to apply it.
func (e *Engine) CheckOverlay(ctx context.Context, ov *Overlay) error {
	b, fp, err := e.src.load()
	if err != nil {
		return err
	}
	if err := ov.apply(b); err != nil {
		return err
	}
	cur := e.cur.Load()
	if cur.code != "" && b.codeDigest() == cur.code {
		_, err = e.checkData(ctx, b, fp, cur)
		return err
	}
	_, err = e.check(ctx, b, fp)
	return err
}
