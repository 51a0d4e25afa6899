package minio

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateIsTheLoadTimeCheck: Validate reports every problem of the
// section at once, as ConfigErrors naming fields within it, and does not
// ask for the key pair, which only the process opening the store may have.
func TestValidateIsTheLoadTimeCheck(t *testing.T) {
	if err := (Config{Endpoint: "minio:9000", Bucket: "b"}).Validate(); err != nil {
		t.Fatalf("no key pair: Validate = %v, want nil (New checks it)", err)
	}
	if _, err := (Config{Endpoint: "minio:9000", Bucket: "b"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "config: credentials") {
		t.Fatalf("no key pair: withDefaults = %v, want credentials", err)
	}
	err := Config{Prefix: "A/", MaxAttempts: -1, Retention: RetentionConfig{Days: 3}}.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) || !errors.Is(e, ErrConfig) {
			t.Fatalf("%v is not a ConfigError", e)
		}
		fields = append(fields, ce.Field())
	}
	if got := strings.Join(fields, " "); got != "endpoint bucket prefix max_attempts retention.mode" {
		t.Fatalf("fields = %s", got)
	}
}
