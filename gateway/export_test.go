package gateway

import (
	"github.com/liaison-project/liaison/crypto/envelope"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
	"github.com/liaison-project/liaison/gateway/search"
	"go.uber.org/zap"
)

// RecordStore is a record store over what IndexOps opened that seals
// records as the gateway's does (its key names from cfg), for benchmarks
// that seed records the way the publish handler writes them.
func (o *IndexOps) RecordStore(cfg config.Config) *recordstore.Store {
	region := func(agency string) string {
		if a, ok := o.pol.Agency(agency); ok {
			return a.Country
		}
		return ""
	}
	return recordstore.New(recordstore.Options{Objects: o.b.store, Keys: envelope.NewCachingKeys(o.b.provider, cfg.Keys.Cache.Limits()),
		Signer: o.b.signer, Index: o.b.index, Log: zap.NewNop(),
		Blinder: &search.Blinder{Keys: o.keyring, Region: region, Log: zap.NewNop()},
		KeyName: func(m *record.Meta) string {
			first := ""
			if len(m.DSAIDs) > 0 {
				first = m.DSAIDs[0]
			}
			return config.KeyName(cfg.Keys.NamePattern, m.Originator.OrgID, first)
		}})
}
