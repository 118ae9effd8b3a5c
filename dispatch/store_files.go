package dispatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// privateDBFiles makes the SQLite database and its -wal and -shm files
// readable by this user only: they hold password hashes, the session and
// signing keys and every resident's phone number. SQLite creates -wal and
// -shm with the database file's mode, so creating the database 0600 first
// is enough for new files; existing ones are tightened.
func privateDBFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite %s: %w", p, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("sqlite %s: make private (0600): %w", p, err)
			}
		}
	}
	return nil
}
