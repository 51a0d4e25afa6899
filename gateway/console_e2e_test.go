package gateway_test

import (
	"testing"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestConsoleDisabled: with console.enabled false, the console's and the
// dev identity provider's paths are unknown paths of the API (404
// no-route), and the API is unchanged.
func TestConsoleDisabled(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true, Configure: func(c *config.Config) { c.Console.Enabled = false }})
	c := env.Client("met-police")
	for _, p := range []string{"/console/", "/console/login", "/console/api/v1/audit", "/dev-idp/authorize"} {
		r := c.MustDo("GET", p, nil)
		if r.Status != 404 || r.Problem(t).Type != "https://liaison.dev/problems/no-route" || r.Header.Get("Content-Security-Policy") != "" {
			t.Errorf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := c.MustDo("GET", "/v1/records", nil); r.Status != 200 {
		t.Fatalf("API: %d %s", r.Status, r.Body)
	}
}

// TestConsoleAuditsDevIdP: a gateway started with the dev identity
// provider says so in its audit log.
func TestConsoleAuditsDevIdP(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	for _, ev := range env.Audit() {
		if ev.Action == "console.dev_idp" {
			return
		}
	}
	t.Fatal("no console.dev_idp entry")
}
