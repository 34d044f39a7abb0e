package api_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"keytask/api"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/events"
)

func TestSeedAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := pgtest.New(t)
	store := events.NewStore(d.Pool)
	dir := filepath.Join(t.TempDir(), "data")

	token, created, err := api.SeedAdmin(ctx, store, dir)
	if err != nil || !created || token == "" {
		t.Fatalf("first start: %q, %v, %v", token, created, err)
	}
	path := filepath.Join(dir, api.AdminTokenFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != token {
		t.Fatalf("token file holds %q, want the token", b)
	}

	version := func(t *testing.T, want int64) {
		t.Helper()
		if v, _ := store.StreamVersion(ctx, "user-admin"); v != want {
			t.Fatalf("user-admin at version %d, want %d", v, want)
		}
	}
	t.Run("LaterStartsAppendNothing", func(t *testing.T) {
		again, created, err := api.SeedAdmin(ctx, store, dir)
		if err != nil || created || again != token {
			t.Fatalf("second start: %q, %v, %v", again, created, err)
		}
		version(t, 2)
	})
	t.Run("LostTokenFileGetsNewToken", func(t *testing.T) {
		other := t.TempDir()
		fresh, created, err := api.SeedAdmin(ctx, store, other)
		if err != nil || created || fresh == "" || fresh == token {
			t.Fatalf("lost file: %q, %v, %v", fresh, created, err)
		}
		version(t, 3)
		again, _, err := api.SeedAdmin(ctx, store, other)
		if err != nil || again != fresh {
			t.Fatalf("restart after reissue: %q, %v", again, err)
		}
		version(t, 3)
	})
	t.Run("UnknownTokenOnFileIsIssued", func(t *testing.T) {
		other := t.TempDir()
		if err := os.WriteFile(filepath.Join(other, api.AdminTokenFile), []byte("operator-saved-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, _, err := api.SeedAdmin(ctx, store, other)
		if err != nil || got != "operator-saved-token" {
			t.Fatalf("%q, %v", got, err)
		}
		version(t, 4)
	})
	t.Run("RevokedTokenIsNotRevived", func(t *testing.T) {
		if _, err := d.Pool.Exec(ctx, `UPDATE bearer_tokens SET revoked_at = now(), revoked_reason = 'ministry' WHERE token_hash = $1`,
			identity.HashToken(token)); err != nil {
			t.Fatal(err)
		}
		got, _, err := api.SeedAdmin(ctx, store, dir)
		if err != nil || got == token {
			t.Fatalf("revoked token came back: %q, %v", got, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, api.AdminTokenFile)); strings.TrimSpace(string(b)) != got {
			t.Fatalf("file holds %q, want the new token", b)
		}
		version(t, 5)
	})
	t.Run("FreshDatabaseKeepsFileToken", func(t *testing.T) {
		// A new database with the old data directory registers the token on file,
		// so the operator's saved token keeps working.
		onFile, _ := os.ReadFile(filepath.Join(dir, api.AdminTokenFile))
		fresh := events.NewStore(pgtest.New(t).Pool)
		again, created, err := api.SeedAdmin(ctx, fresh, dir)
		if err != nil || !created || again != strings.TrimSpace(string(onFile)) {
			t.Fatalf("fresh database: %q, %v, %v", again, created, err)
		}
	})
	t.Run("ConcurrentStarts", func(t *testing.T) {
		fresh := events.NewStore(pgtest.New(t).Pool)
		dir := t.TempDir()
		const n = 4
		tokens := make(chan string, n)
		for range n {
			go func() {
				tok, _, err := api.SeedAdmin(ctx, fresh, dir)
				if err != nil {
					t.Error(err)
				}
				tokens <- tok
			}()
		}
		first := <-tokens
		for range n - 1 {
			if tok := <-tokens; tok != first {
				t.Fatalf("concurrent starts returned different tokens")
			}
		}
		if v, _ := fresh.StreamVersion(ctx, "user-admin"); v != 2 {
			t.Fatalf("user-admin at version %d, want 2", v)
		}
	})
}
