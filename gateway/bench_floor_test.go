package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/connectors/minio"
	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// BenchmarkProxyFloor is the ceiling for any gateway in front of this MinIO
// on this machine: an mTLS (TLS 1.3, HTTP/2) server whose handler does
// nothing but one conditional PUT of the request body through the same
// MinIO connector, into a versioned bucket like the gateway's. Compare it,
// in the same run, with MinIODirectPut (no hop) and RealPublish (the
// gateway: policy, envelope encryption, signing, audit, index).
func BenchmarkProxyFloor(b *testing.B) {
	for _, sz := range benchSizes {
		for _, conc := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%s/c%d", sz.name, conc), func(b *testing.B) {
				use, _ := gatewaytest.UseDevStack(b)
				var cfg config.Config
				use(&cfg)
				ctx := context.Background()
				st, err := minio.New(ctx, cfg.Store.MinIO, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Init(ctx); err != nil {
					b.Fatal(err)
				}
				env := gatewaytest.Start(b, gatewaytest.Options{Quiet: true})
				stls, err := pki.NewServerTLS(env.Fed.ServerTLSOptions(), zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				var n atomic.Int64
				srv := &http.Server{TLSConfig: stls.Config(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					k := fmt.Sprintf("records/r%09d", n.Add(1))
					if err := st.Put(r.Context(), k, body, objstore.PutOptions{IfAbsent: true}); err != nil {
						http.Error(w, err.Error(), 503)
						return
					}
					w.WriteHeader(201)
				})}
				go srv.ServeTLS(ln, "", "")
				defer srv.Close()
				env.URL = "https://" + ln.Addr().String()
				cl := make([]*gatewaytest.Client, conc)
				for i := range cl {
					cl[i] = env.Client("met-police").Unchecked() // a stub, not the gateway
				}
				body := benchPayloadOf(sz.size)
				runConcurrent(b, conc, func(i int) error {
					r, err := cl[i%conc].Do("POST", "/v1/records", body)
					if err != nil {
						return err
					}
					if r.Status != 201 {
						return fmt.Errorf("%d %s", r.Status, r.Body)
					}
					return nil
				})
			})
		}
	}
}
