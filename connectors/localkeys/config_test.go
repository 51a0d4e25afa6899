package localkeys_test

import (
	"errors"
	"testing"

	"github.com/liaison-project/liaison/connectors/localkeys"
)

func TestConfigValidateAndOptions(t *testing.T) {
	if err := (localkeys.Config{Keyring: "/var/lib/liaison/keys/keyring.json"}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	err := localkeys.Config{}.Validate()
	var ce *localkeys.ConfigError
	if !errors.Is(err, localkeys.ErrConfig) || !errors.As(err, &ce) || ce.Field() != "keyring" || ce.Problem() != "required" {
		t.Fatalf("empty keyring: err = %v, want a ConfigError naming keyring", err)
	}
	off, on := false, true
	for _, tc := range []struct {
		auto *bool
		want bool
	}{{nil, localkeys.DefaultAutoCreate}, {&off, false}, {&on, true}} {
		if got := (localkeys.Config{Keyring: "k", AutoCreate: tc.auto}).Options().AutoCreate; got != tc.want {
			t.Errorf("AutoCreate %v: Options().AutoCreate = %v, want %v", tc.auto, got, tc.want)
		}
	}
	if !localkeys.DefaultAutoCreate {
		t.Fatal("DefaultAutoCreate must stay on: the gateway created missing local KEKs before it was a constant")
	}
}
