package gateway

import (
	"context"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/connectors/minio"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/connectors/vault"
	"github.com/liaison-project/liaison/gateway/config"
)

func (b *backends) vaultProvider(ctx context.Context, cfg config.Config) (keys.Provider, error) {
	p, err := vault.New(cfg.Keys.Vault, b.log.Named("vault"))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, p.Close)
	// Log in now: a refused login or a bad configuration stops the start.
	// An unreachable Vault does not: requests fail closed (503) while the
	// provider keeps trying. Token renewal runs as long as ctx.
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (b *backends) minioStore(ctx context.Context, section minio.Config, name string) (objstore.Store, error) {
	st, err := minio.New(ctx, section, b.log.Named(name))
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, st.Close) // its idle connections
	return st, nil
}
