package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/sqlite"
	"github.com/liaison-project/liaison/gateway/config"
)

// indexDB is the one place that chooses the index database.
func (b *backends) indexDB(ctx context.Context, cfg config.Config) (index.Backend, error) {
	switch cfg.Index.Backend {
	case "sqlite":
		if err := os.MkdirAll(filepath.Dir(cfg.Index.SQLite.Path), 0o700); err != nil {
			return nil, err
		}
		db, err := sqlite.Open(cfg.Index.SQLite.Path)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, db.Close)
		return db, nil
	case "postgres":
		return b.postgresIndex(ctx, cfg)
	default:
		return nil, fmt.Errorf("unknown index backend %q", cfg.Index.Backend)
	}
}
