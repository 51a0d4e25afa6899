package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/registry"
)

// ResignStats counts a re-signing run.
type ResignStats struct {
	Scanned  int      `json:"scanned"`
	Resigned int      `json:"resigned"`
	Gone     int      `json:"gone"` // deleted since the listing
	Failed   int      `json:"failed"`
	Errors   []string `json:"errors,omitempty"`
	KeyID    string   `json:"key_id"`
	// RegistryVersion is the registry version written again under the new
	// key (0: the registry holds none).
	RegistryVersion uint64 `json:"registry_version,omitempty"`
}

// Resign signs every stored record's metadata again with the current
// gateway signing key, the last step of a signing-key rotation: afterwards
// the previous key can leave signing.verify_keys. A record is loaded (its
// signature checked under any accepted key) and rewritten atomically, so a
// run can be stopped and started again. A record that fails its check is
// counted and named, never re-signed: re-signing would launder tampering.
// The run is a custody operation: its start and its outcome are entries of
// the custody audit log.
func (k *KeyOps) Resign(ctx context.Context, progress func(done, total int)) (ResignStats, error) {
	st := ResignStats{KeyID: k.b.signer.KeyID()}
	ids, err := k.rs.IDs(ctx)
	if err != nil {
		return st, err
	}
	start, err := k.custodyEntry(ctx, "", "keys.resign", audit.OpAlteration, "", "", &audit.Custody{Scope: "gateway signing key " + st.KeyID})
	if err != nil {
		return st, err
	}
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			start.Custody = &audit.Custody{Scope: "gateway signing key " + st.KeyID, RecordsAffected: st.Resigned}
			k.custodyFailed(ctx, start, err)
			return st, err
		}
		st.Scanned++
		rec, err := k.rs.Load(ctx, id)
		switch {
		case errors.Is(err, recordstore.ErrNotFound):
			st.Gone++
			continue
		case errors.Is(err, recordstore.ErrTampered):
			st.Failed++
			st.Errors = append(st.Errors, id+": "+err.Error())
			continue
		case err != nil:
			start.Custody = &audit.Custody{Scope: "gateway signing key " + st.KeyID, RecordsAffected: st.Resigned}
			k.custodyFailed(ctx, start, err)
			return st, err
		}
		if err := k.rs.Rewrite(ctx, rec); err != nil {
			start.Custody = &audit.Custody{Scope: "gateway signing key " + st.KeyID, RecordsAffected: st.Resigned}
			k.custodyFailed(ctx, start, err)
			return st, err
		}
		st.Resigned++
		if progress != nil {
			progress(i+1, len(ids))
		}
	}
	// The registry's newest version too: it is the only one ever read.
	if st.RegistryVersion, err = registry.Resign(ctx, k.b.store, k.b.signer, registry.Who{Officer: k.custodian, Gateway: k.cfg.GatewayID}, time.Now()); err != nil {
		start.Custody = &audit.Custody{Scope: "gateway signing key " + st.KeyID, RecordsAffected: st.Resigned}
		k.custodyFailed(ctx, start, err)
		return st, err
	}
	_, err = k.custodyEntry(ctx, start.RequestID, "keys.resign", audit.OpAlteration, "", "", &audit.Custody{Scope: "gateway signing key " + st.KeyID, RecordsAffected: st.Resigned})
	return st, err
}
