package gateway

import (
	"context"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/connectors/postgres"
	"github.com/liaison-project/liaison/gateway/config"
)

// postgresIndex opens the PostgreSQL index every replica of the gateway
// shares. An unreachable server stops the start with the reason (like a
// refused Vault login): the gateway cannot list or publish without it.
func (b *backends) postgresIndex(ctx context.Context, cfg config.Config) (index.Backend, error) {
	db, err := postgres.Open(ctx, cfg.Index.Postgres.DSN, postgres.WithMaxConns(cfg.Index.Postgres.MaxConns),
		postgres.WithSchema(cfg.Index.Postgres.Schema))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, db.Close)
	return db, nil
}
