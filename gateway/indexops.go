package gateway

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/search"
	"github.com/liaison-project/liaison/policy"
)

// IndexOps runs index operations (`liaison index`): a rebuild from the
// store, blind-index key rotation and retirement, and status. It opens the
// backends, the blind-index keyring and the policy (for agencies'
// jurisdictions) exactly as the gateway does.
type IndexOps struct {
	b       *backends
	rs      *recordstore.Store
	keyring *search.Keyring
	pol     *policy.Engine
}

// OpenIndexOps opens what cfg names.
func OpenIndexOps(ctx context.Context, cfg config.Config, log *zap.Logger) (*IndexOps, error) {
	b, err := openBackends(ctx, cfg, log, openOptions{index: true})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*IndexOps, error) { b.close(); return nil, err }
	pol, err := policy.New(ctx, policy.Options{Dir: cfg.Policy.Dir, Bundle: cfg.Policy.Bundle, TrustedKeys: cfg.Policy.TrustedKeys,
		RequiredSignatures: cfg.Policy.RequiredSignatures, Logger: log})
	if err != nil {
		return fail(fmt.Errorf("policy: %w", err))
	}
	b.closers = append(b.closers, pol.Close)
	kc := envelope.NewCachingKeys(b.provider, cfg.Keys.Cache.Limits())
	kr, err := search.OpenKeyring(ctx, b.store, kc, cfg.Index.BlindKeyName, log.Named("blind-keys"))
	if err == nil {
		err = kr.Ready(ctx)
	}
	if err != nil {
		return fail(&OpenError{What: "index", Err: err})
	}
	region := func(agency string) string {
		if a, ok := pol.Agency(agency); ok {
			return a.Country
		}
		return ""
	}
	rs := recordstore.New(recordstore.Options{Objects: b.store, Keys: kc, Signer: b.signer, Index: b.index, Log: log,
		Blinder: &search.Blinder{Keys: kr, Region: region, Log: log.Named("index")}})
	return &IndexOps{b: b, rs: rs, keyring: kr, pol: pol}, nil
}

// Close releases the backends.
func (o *IndexOps) Close() error { return o.b.close() }

// Rebuild re-indexes every record (recordstore.Rebuild).
func (o *IndexOps) Rebuild(ctx context.Context, opts recordstore.RebuildOptions) (recordstore.RebuildProgress, error) {
	return o.rs.Rebuild(ctx, opts)
}

// RotateKey adds a blind-index key version; until RetireKeys, records are
// indexed and searched under every active version.
func (o *IndexOps) RotateKey(ctx context.Context) (int, error) { return o.keyring.Rotate(ctx) }

// RetireKeys retires every blind-index key version but the newest and
// deletes its blind values. Run it only after a rebuild that began after
// the rotation (and after every replica re-read the keyring).
func (o *IndexOps) RetireKeys(ctx context.Context) ([]int, error) {
	// Only a rebuild that started after the newest key existed indexed
	// every record under it; retiring before would make old records
	// unfindable by selector.
	newest, err := o.keyring.NewestCreated(ctx)
	if err != nil {
		return nil, err
	}
	started, err := o.rs.RebuildStarted(ctx)
	if err != nil {
		return nil, err
	}
	if after, _, err := o.rs.RebuildState(ctx); err != nil {
		return nil, err
	} else if after != "" || started.IsZero() || started.Before(newest) {
		return nil, fmt.Errorf("no complete rebuild since blind-index key rotation at %s: run `liaison index rebuild --restart` first", newest.Format(time.RFC3339))
	}
	return o.keyring.Retire(ctx, o.b.index)
}

// IndexStatus describes the index.
type IndexStatus struct {
	Backend     string `json:"backend"`
	Entries     int64  `json:"entries"`
	BlindValues int64  `json:"blind_values"`
	KeyVersions []int  `json:"blind_key_versions"`
	// RebuildResumesAfter is set while a rebuild is unfinished.
	RebuildResumesAfter string `json:"rebuild_resumes_after,omitempty"`
	LastRebuild         string `json:"last_rebuild_completed,omitempty"`
}

// Status reports counts, key versions and rebuild progress.
func (o *IndexOps) Status(ctx context.Context, backend string) (IndexStatus, error) {
	st := IndexStatus{Backend: backend, KeyVersions: o.keyring.Versions()}
	var err error
	if st.Entries, st.BlindValues, err = o.b.index.Count(ctx); err != nil {
		return st, err
	}
	st.RebuildResumesAfter, st.LastRebuild, err = o.rs.RebuildState(ctx)
	return st, err
}

// RebuildStateOf reports an unfinished rebuild's resume point and the last
// completed rebuild.
func (o *IndexOps) RebuildStateOf(ctx context.Context) (resumeAfter, completed string, err error) {
	return o.rs.RebuildState(ctx)
}
