package gateway

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/console"
	"github.com/liaison-project/liaison/gateway/httpapi"
)

// WithConsoleHTTPClient sets the client the console calls identity
// providers' token endpoints with (tests trust a test provider's CA).
func WithConsoleHTTPClient(c *http.Client) Option {
	return func(o *buildOptions) { o.consoleClient = c }
}

// devCAPrefix is how a dev federation names its CA (crypto/pki
// EnsureDevFederation); production CAs are the agencies' own.
const devCAPrefix = "Liaison dev federation CA ("

// buildConsole builds the web console (docs/console.md) when
// console.enabled. The dev identity provider signs in anyone holding a dev
// agency certificate as that agency's officers, so it is refused unless
// every CA the agency listener trusts is a dev federation's: a production
// trust bundle cannot be combined with it by a stray `dev_idp: true`. When
// it does run, it says so in the log (a warning) and in the audit log.
func (g *Gateway) buildConsole(cfg config.Config, srv *httpapi.Server, log *zap.Logger) error {
	if !cfg.Console.Enabled {
		return nil
	}
	opts := console.Options{Config: cfg.Console, GatewayID: cfg.GatewayID, TrustDomain: cfg.TrustDomain, Audience: cfg.Officers.Audience,
		Beside: srv.Beside, Handled: srv.Handled, Audit: g.audit.Append, Now: g.opts.now, Log: log.Named("console"),
		HTTPClient: g.opts.consoleClient}
	if g.officers != nil {
		opts.Verifier = g.officers
	}
	if cfg.Console.DevIdP {
		if err := devTrustOnly(cfg.TLS.ClientCAs); err != nil {
			return fmt.Errorf("console.dev_idp: refused: %w", err)
		}
		dir := cfg.Console.DevIdPDir
		opts.DevKey = func(agency string) (console.DevSigner, error) {
			if !identity.ValidID(agency) {
				return nil, fmt.Errorf("console: %q is not an agency id", agency)
			}
			return jose.LoadPrivateJWK(filepath.Join(dir, "agencies", agency, "officer-key.jwk.json"))
		}
	}
	c, err := console.New(opts)
	if err != nil {
		return err
	}
	if cfg.Console.DevIdP {
		log.Warn("console: the development identity provider is on (/dev-idp/): any holder of a dev agency certificate can sign in as its dev officers; never in production")
		g.starts = append(g.starts, func(ctx context.Context) error {
			if err := c.AuditDevIdP(ctx); err != nil {
				return fmt.Errorf("console: audit: %w", err)
			}
			return nil
		})
	}
	g.console = c
	return nil
}

// devTrustOnly checks that every certificate in the trust bundle is a dev
// federation CA.
func devTrustOnly(files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("no tls.client_cas")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		n := 0
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if blk.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if !strings.HasPrefix(c.Subject.CommonName, devCAPrefix) {
				return fmt.Errorf("%s holds %q, which is not a dev federation CA: the dev identity provider runs only with a dev PKI", f, c.Subject.CommonName)
			}
			n++
		}
		if n == 0 {
			return fmt.Errorf("%s holds no certificate", f)
		}
	}
	return nil
}
