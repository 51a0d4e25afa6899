package fsstore_test

import (
	"errors"
	"testing"

	"github.com/liaison-project/liaison/connectors/fsstore"
)

func TestConfigValidate(t *testing.T) {
	if err := (fsstore.Config{Dir: "/var/lib/liaison/store"}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	err := fsstore.Config{}.Validate()
	var ce *fsstore.ConfigError
	if !errors.Is(err, fsstore.ErrConfig) || !errors.As(err, &ce) || ce.Field() != "dir" || ce.Problem() != "required" {
		t.Fatalf("empty dir: err = %v, want a ConfigError naming dir", err)
	}
	if err.Error() != "fsstore: invalid configuration: config: dir: required" {
		t.Fatalf("message = %q", err.Error())
	}
}
