package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/liaison-project/liaison/deploy/devstack"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// Benchmarks on the real dev stack (`make bench`, or with the stack's
// environment exported):
//
//	go test -run '^$' -bench 'RealPublish|MinIODirectPut|VaultCalls' -benchtime 1000x ./gateway/
//
// RealPublish and MinIODirectPut write the same payloads to the same MinIO
// in the same run; their records/s ratio is the gateway's cost.

// benchSizes are the request-body sizes of the throughput benchmarks: the
// small test record, a report-sized record and one with an attachment.
var benchSizes = []struct {
	name string
	size int
}{{"0.6KB", 0}, {"16KB", 16 << 10}, {"256KB", 256 << 10}}

func BenchmarkRealPublish(b *testing.B) {
	for _, sz := range benchSizes {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%s/c%d", sz.name, conc), func(b *testing.B) {
				use, _ := gatewaytest.UseDevStack(b)
				env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true, Configure: use})
				publishLoopOf(b, env, conc, benchPayloadOf(sz.size))
			})
		}
	}
}

// BenchmarkMinIODirectPut is the baseline: the same request bodies PUT
// straight to the same MinIO with minio-go, into a bucket set up like the
// gateway's (versioned).
func BenchmarkMinIODirectPut(b *testing.B) {
	for _, sz := range benchSizes {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%s/c%d", sz.name, conc), func(b *testing.B) {
				m := devstack.MinIO(b)
				c := rawBucket(b, m.Endpoint, m.AccessKey, m.SecretKey)
				bucket := "direct-" + gatewaytest.Unique(b)
				ctx := context.Background()
				if err := c.MakeBucket(ctx, bucket, miniogo.MakeBucketOptions{}); err != nil {
					b.Fatal(err)
				}
				if err := c.EnableVersioning(ctx, bucket); err != nil {
					b.Fatal(err)
				}
				body := benchPayloadOf(sz.size)
				runConcurrent(b, conc, func(i int) error {
					_, err := c.PutObject(ctx, bucket, fmt.Sprintf("records/r%09d", i), bytes.NewReader(body), int64(len(body)),
						miniogo.PutObjectOptions{ContentType: "application/octet-stream"})
					return err
				})
			})
		}
	}
}

// BenchmarkVaultCallsPerRecord publishes b.N records and reports how many
// records each Vault datakey call served, with the data-key cache on
// (defaults) and off.
func BenchmarkVaultCallsPerRecord(b *testing.B) {
	for _, mode := range []string{"cache-on", "cache-off"} {
		b.Run(mode, func(b *testing.B) {
			use, _ := gatewaytest.UseDevStack(b)
			env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) {
				use(c)
				c.Keys.Cache.Disabled = mode == "cache-off"
			}})
			publishLoop(b, env, 4)
			st := env.GW.KeyCacheStats()
			b.ReportMetric(float64(st.DataKeyRequests)/float64(max(st.DataKeyProviderCalls, 1)), "records/vault-call")
		})
	}
}
