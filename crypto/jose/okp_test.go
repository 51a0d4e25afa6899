package jose

import "testing"

// TestPublicSetRefusesShortEd25519Keys: an agency key set whose Ed25519
// key has the wrong length is refused when it is loaded, not left to panic
// in ed25519.Verify at the first token.
func TestPublicSetRefusesShortEd25519Keys(t *testing.T) {
	for _, x := range []string{``, `AAAA`, `AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`} {
		set := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"` + x + `"}]}`)
		if _, err := parsePublicSet(set); err == nil {
			t.Errorf("an Ed25519 key with x=%q (%d bytes) was accepted", x, len(x)*3/4)
		}
	}
	// The same key at the right length (32 bytes) loads.
	ok := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	if _, err := parsePublicSet(ok); err != nil {
		t.Fatalf("a well-formed Ed25519 key was refused: %v", err)
	}
	// An X25519 key is not a signing key.
	x := []byte(`{"keys":[{"kty":"OKP","crv":"X25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	if _, err := parsePublicSet(x); err == nil {
		t.Fatal("an X25519 key was accepted as an officer signing key")
	}
}
