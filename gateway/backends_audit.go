package gateway

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/config"
)

// OpenStore opens the configured object store alone, for tools that read
// what the gateway shipped there (`liaison audit verify --store`). Close
// it with the returned function.
func OpenStore(ctx context.Context, cfg config.Config, log *zap.Logger) (objstore.Store, func() error, error) {
	b := &backends{log: log}
	st, err := b.auditStore(ctx, cfg, nil)
	if err != nil {
		b.close()
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	return st, b.close, nil
}

// auditStore is where audit segments are shipped: audit.store when its
// endpoint is set, else the records store (records; opened when nil).
func (b *backends) auditStore(ctx context.Context, cfg config.Config, records objstore.Store) (objstore.Store, error) {
	if cfg.Audit.Store.Endpoint != "" {
		return b.minioStore(ctx, cfg.Audit.Store, "audit-store")
	}
	if records != nil {
		return records, nil
	}
	return b.objectStore(ctx, cfg)
}
