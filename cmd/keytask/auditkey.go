package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"keytask/config"
	"keytask/temporalx"
)

// The digest signing key is configured like the log key but apart from it: the
// log key must be shared with every process and with auditors (it is a MAC key),
// whereas the digest key is a private signing key of which auditors need only
// the public half. config reads both variables; their names here word errors.
const (
	digestKeyEnv       = "KEYTASK_DIGEST_KEY"        // hex Ed25519 seed (32 bytes)
	digestPublicKeyEnv = "KEYTASK_DIGEST_PUBLIC_KEY" // hex Ed25519 public key an auditor trusts
	digestKeyFile      = "digest-key"
)

// loadDigestKey returns the Ed25519 key that signs log digests: KEYTASK_DIGEST_KEY,
// or the key file in the data dir. With create, a missing file is generated, as on
// a developer's machine; created reports that it was. It returns nil when there
// is no key and create is false.
func loadDigestKey(cfg config.Config, create bool) (key ed25519.PrivateKey, created bool, err error) {
	seed, created, err := loadHexKey(cfg.DigestKey, digestKeyEnv, cfg.DataDir, digestKeyFile, ed25519.SeedSize, create)
	if seed == nil || err != nil {
		return nil, created, err
	}
	return ed25519.NewKeyFromSeed(seed), created, nil
}

// loadHexKey returns a size-byte key: the hex value of the variable env (given
// as value), or the hex in file under dir. With create, a missing file is
// generated. It returns nil when there is no key and create is false.
func loadHexKey(value, env, dir, file string, size int, create bool) (key []byte, created bool, err error) {
	decode := func(s, from string) ([]byte, error) {
		k, err := hex.DecodeString(s)
		if err != nil || len(k) != size {
			return nil, fmt.Errorf("key from %s must be %d bytes in hex", from, size)
		}
		return k, nil
	}
	if value != "" {
		k, err := decode(value, env)
		return k, false, err
	}
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := decode(strings.TrimSpace(string(b)), path)
		return k, false, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	case !create:
		return nil, false, nil
	}
	k := make([]byte, size)
	if _, err := rand.Read(k); err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	// O_EXCL: two processes starting at once must not end up with different keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadHexKey(value, env, dir, file, size, false)
	}
	if err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	return k, true, f.Sync()
}

// trustedDigestKey is the public key a digest must be signed with: the flag, then
// KEYTASK_DIGEST_PUBLIC_KEY, then the public half of the configured signing key.
// nil means none is known.
func trustedDigestKey(cfg config.Config, flag string) (ed25519.PublicKey, string, error) {
	for _, c := range []struct{ v, from string }{{flag, "--public-key"}, {cfg.DigestPublicKey, digestPublicKeyEnv}} {
		if c.v == "" {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(c.v))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, "", fmt.Errorf("public key from %s must be a %d-byte Ed25519 key in hex", c.from, ed25519.PublicKeySize)
		}
		return b, c.from, nil
	}
	key, _, err := loadDigestKey(cfg, false)
	if err != nil || key == nil {
		return nil, "", err
	}
	return key.Public().(ed25519.PublicKey), "the configured digest key", nil
}

// payloadKeyFile holds dev's payload key, as digest-key holds its digest key.
const payloadKeyFile = "payload-key"

// loadPayloadCodec returns the codec that seals Temporal payloads with
// KEYTASK_PAYLOAD_KEY or the data dir's payload-key (generated with create),
// or nil when neither exists.
func loadPayloadCodec(cfg config.Config, create bool) (*temporalx.Codec, error) {
	key, _, err := loadHexKey(cfg.PayloadKey, "KEYTASK_PAYLOAD_KEY", cfg.DataDir, payloadKeyFile, temporalx.PayloadKeySize, create)
	if key == nil || err != nil {
		return nil, err
	}
	return temporalx.NewCodec(key)
}
