package gateway

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// KeyOps runs key-lifecycle operations (rotation, rewrapping,
// crypto-shredding) on the backends a gateway configuration names. It opens
// them exactly as the gateway does.
type KeyOps struct {
	cfg config.Config
	b   *backends
	mgr keys.Manager
	rs  *recordstore.Store
	log *zap.Logger

	// audit is the gateway's audit log, opened by the first custody
	// operation (custody.go); custodian and reason go into its entries.
	audit             *audit.Log
	custodian, reason string
}

// OpenKeyOps opens the key provider, store and signer of cfg. The provider
// must support key management (both the local keyring and Vault do).
func OpenKeyOps(ctx context.Context, cfg config.Config, log *zap.Logger) (*KeyOps, error) {
	// Never re-create a missing signing key here: rewrap would re-sign
	// records under a key no gateway has.
	b, err := openBackends(ctx, cfg, log, openOptions{})
	if err != nil {
		return nil, err
	}
	mgr, ok := b.provider.(keys.Manager)
	if !ok {
		b.close()
		return nil, fmt.Errorf("keys: provider %q does not support key management", cfg.Keys.Provider)
	}
	return &KeyOps{cfg: cfg, b: b, mgr: mgr, log: log.Named("keys"),
		rs: recordstore.New(recordstore.Options{Objects: b.store, Signer: b.signer, Log: log})}, nil
}

// Close releases the backends.
func (k *KeyOps) Close() error { return k.b.close() }

// KeyName is the key-encryption key of originator agency's records, and
// with per-DSA keys ({dsa} in keys.name_pattern) of those shared under dsa.
func (k *KeyOps) KeyName(agency, dsa string) (string, error) {
	switch perDSA := config.PerDSAKeys(k.cfg.Keys.NamePattern); {
	case agency == "":
		return "", fmt.Errorf("an agency is required")
	case perDSA && dsa == "":
		return "", fmt.Errorf("keys.name_pattern %q gives each DSA its own key: name the DSA", k.cfg.Keys.NamePattern)
	case !perDSA && dsa != "":
		return "", fmt.Errorf("keys.name_pattern %q has no {dsa}: keys are per agency, not per DSA", k.cfg.Keys.NamePattern)
	}
	name := config.KeyName(k.cfg.Keys.NamePattern, agency, dsa)
	if !keys.ValidName(name) {
		return "", fmt.Errorf("%q is not a valid key name", name)
	}
	return name, nil
}

// Info describes a key.
func (k *KeyOps) Info(ctx context.Context, agency, dsa string) (keys.KeyInfo, error) {
	name, err := k.KeyName(agency, dsa)
	if err != nil {
		return keys.KeyInfo{}, err
	}
	return k.mgr.Info(ctx, name)
}

// Rotate adds a key version; new records are wrapped under it.
func (k *KeyOps) Rotate(ctx context.Context, agency, dsa string) (keys.KeyInfo, error) {
	name, err := k.KeyName(agency, dsa)
	if err != nil {
		return keys.KeyInfo{}, err
	}
	c := &audit.Custody{Key: name, Scope: custodyScope(agency, dsa)}
	ev, err := k.custodyEntry(ctx, "", "keys.rotate", audit.OpAlteration, agency, dsa, c)
	if err != nil {
		return keys.KeyInfo{}, err
	}
	if err := k.mgr.Rotate(ctx, name); err != nil {
		k.custodyFailed(ctx, ev, err)
		return keys.KeyInfo{}, err
	}
	k.log.Info("key rotated", zap.String("key", name))
	return k.mgr.Info(ctx, name)
}

// Shred raises the minimum decryption version: every record under the key
// whose data key is wrapped under an older version becomes permanently
// unreadable. Running gateways may still hold unwrapped keys in their
// cache for up to keys.cache.unwrap_ttl.
func (k *KeyOps) Shred(ctx context.Context, agency, dsa string, minVersion int) error {
	name, err := k.KeyName(agency, dsa)
	if err != nil {
		return err
	}
	if _, err := k.mgr.Info(ctx, name); err != nil {
		return err
	}
	n, err := k.countUnder(ctx, name, minVersion)
	if err != nil {
		return fmt.Errorf("counting the records under %s: %w (nothing was changed)", name, err)
	}
	c := &audit.Custody{Key: name, Scope: custodyScope(agency, dsa), RecordsAffected: n, MinDecryptionVersion: minVersion}
	ev, err := k.custodyEntry(ctx, "", "keys.shred", audit.OpErasure, agency, dsa, c)
	if err != nil {
		return err
	}
	if err := k.mgr.SetMinDecryptionVersion(ctx, name, minVersion); err != nil {
		k.custodyFailed(ctx, ev, err)
		return err
	}
	k.log.Warn("key versions shredded", zap.String("key", name), zap.Int("min_decryption_version", minVersion))
	return nil
}

// Destroy deletes the key: every record under it becomes permanently
// unreadable (with per-DSA keys, exactly agency's records shared under dsa).
// The same unwrap-cache caveat as Shred applies.
func (k *KeyOps) Destroy(ctx context.Context, agency, dsa string) (string, error) {
	name, err := k.KeyName(agency, dsa)
	if err != nil {
		return "", err
	}
	if _, err := k.mgr.Info(ctx, name); err != nil {
		return name, err // a typo must not look like a successful destruction
	}
	n, err := k.countUnder(ctx, name, 0)
	if err != nil {
		return name, fmt.Errorf("counting the records under %s: %w (nothing was changed)", name, err)
	}
	c := &audit.Custody{Key: name, Scope: custodyScope(agency, dsa), RecordsAffected: n}
	ev, err := k.custodyEntry(ctx, "", "keys.destroy", audit.OpErasure, agency, dsa, c)
	if err != nil {
		return name, err
	}
	if err := k.mgr.Delete(ctx, name); err != nil {
		k.custodyFailed(ctx, ev, err)
		return name, err
	}
	k.log.Warn("key destroyed", zap.String("key", name))
	return name, nil
}

// RewrapStats summarises a rewrap run.
type RewrapStats struct {
	Scanned   int            `json:"scanned"`
	Rewrapped int            `json:"rewrapped"`
	Current   int            `json:"already_current"`
	Skipped   int            `json:"skipped"` // recalled, other agencies
	Failed    int            `json:"failed"`
	Versions  map[string]int `json:"latest_versions"`
	Errors    []string       `json:"errors,omitempty"`
}

// batchRewrapper is implemented by providers with a batch endpoint (Vault).
type batchRewrapper interface {
	RewrapBatch(ctx context.Context, name string, wrapped [][]byte) ([][]byte, error)
}

// Rewrap re-wraps every stored data key (of agency, or of all agencies when
// empty) under its key's newest version and re-signs the record metadata.
// Each record is rewritten atomically, so the run can be interrupted and
// started again: records already current are skipped. progress, if set, is
// called with the records done and the total.
func (k *KeyOps) Rewrap(ctx context.Context, agency string, progress func(done, total int)) (RewrapStats, error) {
	st := RewrapStats{Versions: map[string]int{}}
	ids, err := k.rs.IDs(ctx)
	if err != nil {
		return st, err
	}
	// A rewrap discloses nothing and keeps every record readable, so one
	// entry says it started and another what it changed; a run that stops
	// half-way leaves its start entry and a correction.
	scope := custodyScope(agency, "")
	start, err := k.custodyEntry(ctx, "", "keys.rewrap", audit.OpAlteration, agency, "", &audit.Custody{Scope: scope})
	if err != nil {
		return st, err
	}
	total := len(ids)
	const batch = 100
	for from := 0; from < total; from += batch {
		err := ctx.Err()
		if err == nil {
			err = k.rewrapBatch(ctx, ids[from:min(from+batch, total)], agency, &st)
		}
		if err != nil {
			start.Custody = &audit.Custody{Scope: scope, RecordsAffected: st.Rewrapped}
			k.custodyFailed(ctx, start, err)
			return st, err
		}
		if progress != nil {
			progress(min(from+batch, total), total)
		}
	}
	_, err = k.custodyEntry(ctx, start.RequestID, "keys.rewrap", audit.OpAlteration, agency, "", &audit.Custody{Scope: scope, RecordsAffected: st.Rewrapped})
	return st, err
}

func (k *KeyOps) rewrapBatch(ctx context.Context, ids []string, agency string, st *RewrapStats) error {
	byKey := map[string][]*recordstore.Record{}
	for _, id := range ids {
		st.Scanned++
		rec, err := k.rs.Load(ctx, id)
		if err != nil {
			if errors.Is(err, recordstore.ErrTampered) {
				st.Failed++
				st.Errors = append(st.Errors, id+": "+err.Error())
				continue
			}
			if errors.Is(err, recordstore.ErrNotFound) {
				st.Skipped++
				continue
			}
			return err
		}
		if rec.State != recordstore.StateActive || rec.Content == nil || (agency != "" && rec.Meta.Originator.OrgID != agency) {
			st.Skipped++
			continue
		}
		name := rec.Content.KeyName
		latest, ok := st.Versions[name]
		if !ok {
			info, err := k.mgr.Info(ctx, name)
			if err != nil {
				return fmt.Errorf("key %s: %w", name, err)
			}
			latest = info.LatestVersion
			st.Versions[name] = latest
		}
		if wv, ok := k.b.provider.(keys.WrappedVersion); ok {
			if v, err := wv.WrappedVersion(rec.Content.WrappedKey); err == nil && v >= latest {
				st.Current++
				continue
			}
		}
		byKey[name] = append(byKey[name], rec)
	}
	for name, recs := range byKey {
		wrapped := make([][]byte, len(recs))
		for i, r := range recs {
			wrapped[i] = r.Content.WrappedKey
		}
		var out [][]byte
		var err error
		if br, ok := k.b.provider.(batchRewrapper); ok {
			out, err = br.RewrapBatch(ctx, name, wrapped)
		} else {
			out = make([][]byte, len(wrapped))
			for i, w := range wrapped {
				out[i], err = k.mgr.Rewrap(ctx, name, w)
				if errors.Is(err, keys.ErrInvalidCiphertext) {
					out[i], err = nil, nil // this record is shredded; go on with the others
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil && !errors.Is(err, keys.ErrInvalidCiphertext) {
			return fmt.Errorf("rewrap under %s: %w", name, err)
		}
		for i, r := range recs {
			if i >= len(out) || len(out[i]) == 0 {
				st.Failed++
				st.Errors = append(st.Errors, r.Meta.RecordID+": data key cannot be rewrapped (shredded or corrupt)")
				continue
			}
			r.Content.WrappedKey = out[i]
			if err := k.rs.Rewrite(ctx, r); errors.Is(err, objstore.ErrConflict) {
				// Changed meanwhile (a share or recall, perhaps on another
				// replica): that change stands; a second run rewraps it.
				st.Failed++
				st.Errors = append(st.Errors, r.Meta.RecordID+": changed concurrently; run the rewrap again")
				continue
			} else if err != nil {
				return err
			}
			st.Rewrapped++
		}
	}
	return nil
}
