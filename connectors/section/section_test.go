package section

import (
	"errors"
	"testing"
)

func TestError(t *testing.T) {
	errVault := errors.New("vault: invalid configuration")
	errMinIO := errors.New("minio: invalid configuration")
	err := error(New(errVault, "auth.token", "required for method %s", "token"))
	if got, want := err.Error(), "vault: invalid configuration: config: auth.token: required for method token"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, errVault) || errors.Is(err, errMinIO) {
		t.Fatal("the error does not name its own connector only")
	}
	var se *Error
	if !errors.As(err, &se) || se.Field() != "auth.token" || se.Problem() != "required for method token" {
		t.Fatalf("field/problem = %q/%q", se.Field(), se.Problem())
	}
}
