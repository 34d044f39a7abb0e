package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"keytask/config"
)

// logKeyFile is where `keytask dev` keeps the log key when none is configured.
const logKeyFile = "log-key"

// loadLogKey returns the key that signs every appended event: KEYTASK_LOG_KEY, or
// the key file in the data dir. With create, a missing file is generated, as
// `keytask dev` does on first start. It returns nil when there is no key.
func loadLogKey(cfg config.Config, create bool) ([]byte, error) {
	if cfg.LogKey != "" {
		return decodeKey(cfg.LogKey, "KEYTASK_LOG_KEY")
	}
	path := filepath.Join(cfg.DataDir, logKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return decodeKey(strings.TrimSpace(string(b)), path)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read log key: %w", err)
	case !create:
		return nil, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting at once must not end up with different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadLogKey(cfg, false)
	}
	if err != nil {
		return nil, fmt.Errorf("write log key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("write log key: %w", err)
	}
	return key, f.Sync()
}

func decodeKey(s, from string) ([]byte, error) {
	key, err := hex.DecodeString(s)
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("log key from %s must be at least 32 bytes in hex", from)
	}
	return key, nil
}
