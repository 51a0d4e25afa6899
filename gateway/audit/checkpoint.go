package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/jose"
)

// Checkpoint is what the gateway signs: the log of this gateway had
// TreeSize entries with this RFC 6962 root hash at Time. A verifier that
// holds a checkpoint can check any entry's inclusion and any later
// checkpoint's consistency with it, without trusting the gateway's disk.
type Checkpoint struct {
	Gateway  string    `json:"gateway"`
	TreeSize uint64    `json:"tree_size"`
	RootHash string    `json:"root_hash"` // lowercase hex
	Time     time.Time `json:"time"`
}

func (c *Checkpoint) root() ([]byte, error) {
	b, err := hex.DecodeString(c.RootHash)
	if err != nil || len(b) != 32 {
		return nil, errors.New("root_hash is not 32 bytes of hex")
	}
	return b, nil
}

// signCheckpoint returns the compact JWS of c.
func signCheckpoint(s *jose.Signer, c Checkpoint) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return s.Sign(payload)
}

// parseCheckpoint verifies a compact JWS with v and decodes its payload.
// The payload must be exactly one checkpoint with a well-formed root.
func parseCheckpoint(v *jose.Verifier, jws []byte) (Checkpoint, error) {
	var c Checkpoint
	payload, err := v.Verify(bytes.TrimSpace(jws))
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("payload is not a checkpoint: %v", err)
	}
	if _, err := c.root(); err != nil {
		return c, err
	}
	return c, nil
}

// File names inside a log directory.
const (
	checkpointsFile = "checkpoints.jws"      // one compact JWS per line, tree sizes increasing
	keysFile        = "audit-keys.jwks.json" // public keys that signed checkpoints, for offline checks
)

// publishKey merges s's public key into dir's key set file, so that a
// verifier without a pinned key set can still check every checkpoint after
// the audit key was rotated. The file is written atomically.
func publishKey(dir string, s *jose.Signer) error {
	pub, err := s.PublicJWKS()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, keysFile)
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return writeFileAtomic(path, pub)
	}
	if err != nil {
		return err
	}
	merged, changed, err := mergeJWKS(old, pub)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return nil
	}
	return writeFileAtomic(path, merged)
}

// mergeJWKS adds add's keys to base's, by kid.
func mergeJWKS(base, add []byte) ([]byte, bool, error) {
	bs, err := jwk.Parse(base)
	if err != nil {
		return nil, false, fmt.Errorf("not a JWK set: %w", err)
	}
	as, err := jwk.Parse(add)
	if err != nil {
		return nil, false, fmt.Errorf("not a JWK set: %w", err)
	}
	changed := false
	for i := range as.Len() {
		k, _ := as.Key(i)
		if _, ok := bs.LookupKeyID(k.KeyID()); ok {
			continue
		}
		if err := bs.AddKey(k); err != nil {
			return nil, false, err
		}
		changed = true
	}
	out, err := json.MarshalIndent(bs, "", "  ")
	return out, changed, err
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readKeys returns the key set published in dir.
func readKeys(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, keysFile))
	if err != nil {
		return nil, fmt.Errorf("audit: public keys: %w", err)
	}
	return b, nil
}
