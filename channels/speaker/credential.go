package speaker

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alertcast/alertcast/channels/speaker/wire"
)

// NewCredential makes a device credential: 32 random bytes, base64url
// without padding (43 characters). The admin API shows secret once and
// stores only hash (HashCredential of it). A plain SHA-256 is enough because
// the secret is random, not a password.
func NewCredential() (secret string, hash []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("speaker: crypto/rand failed: " + err.Error())
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, HashCredential(secret)
}

// HashCredential is SHA-256 of the credential string as the device sends it.
func HashCredential(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// credentialMatches compares in constant time.
func credentialMatches(secret string, hash []byte) bool {
	if len(hash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(HashCredential(secret), hash) == 1
}

const keyPEMType = "ED25519 PRIVATE KEY SEED"

// LoadOrCreateKey reads the platform signing key from path (PEM holding the
// 32-byte Ed25519 seed), creating it with mode 0600 when it does not exist.
// A key file readable by group or others is refused: whoever holds the key
// can make every loudspeaker in the county speak.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("speaker key: %w", err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: keyPEMType, Bytes: priv.Seed()})
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, fs.ErrExist) { // another process won the race
				return LoadOrCreateKey(path)
			}
			return nil, fmt.Errorf("speaker key: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return nil, fmt.Errorf("speaker key %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("speaker key %s: %w", path, err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("speaker key: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("speaker key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("speaker key %s: mode %v is readable by others; chmod 600 it", path, st.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != keyPEMType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("speaker key %s: not a PEM %q block of %d bytes", path, keyPEMType, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(blk.Bytes), nil
}

// EncodePublicKey is the text form of the platform public key that goes into
// every agent's config file (see wire.EncodePublicKey).
func EncodePublicKey(pub ed25519.PublicKey) string { return wire.EncodePublicKey(pub) }

// ParsePublicKey is the inverse of EncodePublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) { return wire.ParsePublicKey(s) }
