package vault

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateIsTheLoadTimeCheck: Validate reports every problem of the
// section at once, as ConfigErrors naming fields within it, and does not
// ask for the token, which only the serving process may have.
func TestValidateIsTheLoadTimeCheck(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "")
	if err := (Config{Address: "https://vault:8200"}).Validate(); err != nil {
		t.Fatalf("no token: Validate = %v, want nil (New checks the token)", err)
	}
	if _, err := (Config{Address: "https://vault:8200"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "config: auth.token") {
		t.Fatalf("no token: withDefaults = %v, want auth.token", err)
	}
	err := Config{KeyNamePattern: "x", RequestTimeout: -1, Auth: AuthConfig{Method: AuthAppRole, SecretID: "s", SecretIDFile: "f"}}.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *ConfigError
		if !errors.As(e, &ce) || !errors.Is(e, ErrConfig) {
			t.Fatalf("%v is not a ConfigError", e)
		}
		fields = append(fields, ce.Field())
	}
	if got := strings.Join(fields, " "); got != "address key_name_pattern request_timeout auth.role_id auth.secret_id" {
		t.Fatalf("fields = %s", got)
	}
}
