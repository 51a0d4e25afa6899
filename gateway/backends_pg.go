package gateway

import (
	"context"
	"errors"

	"github.com/liaison-project/liaison/connectors/index"
	"github.com/liaison-project/liaison/gateway/config"
)

func (b *backends) postgresIndex(ctx context.Context, cfg config.Config) (index.Backend, error) {
	return nil, errors.New("postgres index: not built in yet")
}
