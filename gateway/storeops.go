package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/config"
)

// OpenRecordStore opens the record store cfg names exactly as the gateway does
// (backend, bucket, prefix, credentials), for the commands that copy it
// whole: `liaison backup create` and `restore`. The returned function
// releases it.
func OpenRecordStore(ctx context.Context, cfg config.Config, log *zap.Logger) (objstore.Store, func() error, error) {
	b := &backends{log: log}
	st, err := b.objectStore(ctx, cfg)
	if err != nil {
		b.close()
		return nil, nil, &OpenError{What: "store", Err: err}
	}
	return st, b.close, nil
}
