package db_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"keytask/db"
	"keytask/db/pgtest"
)

// refused fails unless sql is refused for lack of privilege.
func refused(t *testing.T, ctx context.Context, c *pgx.Conn, sql string) {
	t.Helper()
	_, err := c.Exec(ctx, sql)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("%s: %v, want permission denied (42501)", sql, err)
	}
}

// The runtime login leaves the writer role with RESET ROLE and finds itself
// with nothing more: it still cannot change or remove the log, switch the
// tamper trigger off, or make itself roles or databases. Logged in as a
// superuser, as the platform once was, every one of these succeeded.
func TestResetRoleGainsNothing(t *testing.T) {
	ctx := context.Background()
	d := pgtest.New(t)
	if _, err := d.Pool.Exec(ctx, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
		VALUES (gen_random_uuid(), 's-1', 1, 'Noted', 1, '{}', '{}', now(), pg_current_xact_id())`); err != nil {
		t.Fatalf("the writer appends: %v", err)
	}
	c, err := d.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	conn := c.Conn()
	if _, err := conn.Exec(ctx, "RESET ROLE"); err != nil {
		t.Fatal(err)
	}
	var user string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&user, &super); err != nil {
		t.Fatal(err)
	}
	if user != pgtest.AppRole || super {
		t.Fatalf("after RESET ROLE the session is %s (superuser %v), want %s without superuser", user, super, pgtest.AppRole)
	}
	for _, sql := range []string{
		`UPDATE events SET type = 'Forged'`,
		`DELETE FROM events`,
		`TRUNCATE events`,
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`SET session_replication_role = replica`,
		`CREATE ROLE keytask_test_intruder SUPERUSER`,
		`CREATE DATABASE keytask_test_intruder`,
		`SET ROLE postgres`,
	} {
		refused(t, ctx, conn, sql)
	}
	var n int
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'Noted'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the log holds %d of its event, %v", n, err)
	}
}

// Migrations run as an owner role without superuser rights, and the platform
// then works as its login role: a site needs a superuser only once, to make
// the roles and the database.
func TestMigrateAsOwnerWithoutSuperuser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const owner = "keytask_test_owner"
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// Cluster-wide and shared with concurrent runs: created once, never dropped.
	if err := db.EnsureLoginRole(ctx, admin, pgtest.AppRole); err != nil {
		t.Fatal(err)
	}
	// The owner is a member of the writer role, as deploy/README.md sets it
	// up: it creates objects the writer owns (the shadow schema).
	if _, err := admin.Exec(ctx, `DO $$
BEGIN
	BEGIN
		CREATE ROLE `+owner+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE IN ROLE `+db.WriterRole+`;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
	END;
	IF NOT pg_has_role('`+owner+`', '`+db.WriterRole+`', 'MEMBER') THEN
		GRANT `+db.WriterRole+` TO `+owner+`;
	END IF;
END $$`); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "keytask_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" OWNER "+owner); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, pgtest.ServerURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	dbURL := func(user string) string {
		u, err := url.Parse(pgtest.ServerURL())
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		s, err := db.WithUser(u.String(), user, "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ownerPool, err := db.OpenOwner(ctx, dbURL(owner))
	if err != nil {
		t.Fatal(err)
	}
	defer ownerPool.Close()
	applied, err := db.Migrate(ctx, ownerPool)
	if err != nil || len(applied) == 0 {
		t.Fatalf("migrate as %s: %v, %v", owner, applied, err)
	}
	pool, err := db.Open(ctx, dbURL(pgtest.AppRole))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at)
		VALUES (repeat('a', 64), 'u', 'c', now() + interval '1 hour')`); err != nil {
		t.Fatalf("the runtime login writes what the writer may: %v", err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "RESET ROLE"); err != nil {
		t.Fatal(err)
	}
	refused(t, ctx, c.Conn(), `UPDATE events SET type = 'Forged'`)
}
