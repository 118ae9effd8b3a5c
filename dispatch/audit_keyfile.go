package dispatch

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadAuditKeyFile reads the audit key from path: 64 hex digits (32 bytes),
// surrounding white space ignored. When the file does not exist and create
// is true, a new random key is written there with mode 0600 (created=true);
// alertd does this on its first start with the default path in its data
// dir. An explicitly configured path is never created: a node of a cluster
// that invented its own key would fork the chain. A key file that others
// than its owner (and group, read only) may access is refused.
func LoadAuditKeyFile(path string, create bool) (key *AuditKey, created bool, err error) {
	key, err = readAuditKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key, err = createAuditKeyFile(path)
		if errors.Is(err, fs.ErrExist) { // another process on this data dir won the race
			key, err = readAuditKeyFile(path)
			return key, false, err
		}
		return key, err == nil, err
	}
	return key, false, err
}

func readAuditKeyFile(path string) (*AuditKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit key file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("audit key file %s: is a directory", path)
	}
	if m := st.Mode().Perm(); m&0o037 != 0 {
		return nil, fmt.Errorf("audit key file %s: mode %04o lets other users read or change the key; chmod 600 it (Kubernetes: defaultMode 0400)", path, m)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 4*AuditKeySize))
	if err != nil {
		return nil, fmt.Errorf("audit key file %s: %w", path, err)
	}
	text := bytes.TrimSpace(raw)
	secret := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(secret, text); err != nil {
		return nil, fmt.Errorf("audit key file %s: must hold %d hex digits and holds something else", path, 2*AuditKeySize)
	}
	if len(secret) != AuditKeySize {
		return nil, fmt.Errorf("audit key file %s: must hold %d hex digits (%d bytes), holds %d", path, 2*AuditKeySize, AuditKeySize, len(text))
	}
	return NewAuditKey(secret)
}

func createAuditKeyFile(path string) (*AuditKey, error) {
	secret := make([]byte, AuditKeySize)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("audit key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit key file: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("audit key file %s: %w", path, err)
	}
	return NewAuditKey(secret)
}
