package main_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"keytask/db/pgtest"
)

// The first administrator of a deployment comes from `keytask admin create`
// with a password on stdin; a second run changes nothing and says so.
func TestAdminCreate(t *testing.T) {
	d := pgtest.New(t)
	env := []string{"KEYTASK_DATABASE_URL=" + d.URL, "KEYTASK_DATA_DIR=" + t.TempDir(), "KEYTASK_LOG_KEY=" + strings.Repeat("ab", 32)}
	create := func(stdin string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"admin", "create"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	ctx := context.Background()
	state := func() (evs int, hash string) {
		t.Helper()
		d.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = 'user-zhang.wei'`).Scan(&evs)
		d.Owner.QueryRow(ctx, `SELECT coalesce(max(password_hash), '') FROM credentials WHERE user_id = 'zhang.wei'`).Scan(&hash)
		return evs, hash
	}

	t.Run("ErrNoPassword", func(t *testing.T) {
		if code, out := create("", "zhang.wei"); code == 0 || !strings.Contains(out, "stdin") {
			t.Errorf("no password on stdin: exit %d\n%s", code, out)
		}
		if code, out := create("short\n", "zhang.wei"); code == 0 || !strings.Contains(out, "password") {
			t.Errorf("a short password: exit %d\n%s", code, out)
		}
		if evs, hash := state(); evs != 0 || hash != "" {
			t.Errorf("a refused bootstrap wrote %d events, credential %q", evs, hash)
		}
	})

	code, out := create("correct horse battery staple\n", "zhang.wei", "--name", "张伟")
	if code != 0 || !strings.Contains(out, "ready to log in") {
		t.Fatalf("admin create: exit %d\n%s", code, out)
	}
	evs, hash := state()
	var types string
	d.Owner.QueryRow(ctx, `SELECT string_agg(type, ',' ORDER BY stream_version) FROM events WHERE stream_id = 'user-zhang.wei'`).Scan(&types)
	if types != "UserRegistered,PasswordSet" || !strings.HasPrefix(hash, "$argon2id$") {
		t.Fatalf("after admin create the log holds %q and the credential is %q", types, hash)
	}
	var role, name string
	d.Owner.QueryRow(ctx, `SELECT data->>'role', data->>'name' FROM events WHERE stream_id = 'user-zhang.wei' AND type = 'UserRegistered'`).Scan(&role, &name)
	if role != "ministry" || name != "张伟" {
		t.Errorf("registered as role %q, name %q", role, name)
	}

	// Again, even with another password: nothing changes, and it says so.
	code, out = create("another password entirely\n", "zhang.wei")
	if code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("second admin create: exit %d\n%s", code, out)
	}
	if evs2, hash2 := state(); evs2 != evs || hash2 != hash {
		t.Errorf("the second run changed the log (%d → %d events) or the password", evs, evs2)
	}
}
