// Package pgtest gives each test a fresh, migrated Postgres database of its own and
// drops it when the test ends, so tests never see each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db"
)

// ServerURL is the maintenance database tests connect to in order to create their
// own; KEYTASK_TEST_DATABASE_URL overrides it.
func ServerURL() string {
	if u := os.Getenv("KEYTASK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// AppRole is the role the tests' Pool logs in as. Like production's runtime
// login (db.EnsureLoginRole) it is no superuser and holds only the writer
// role's privileges, so every test runs the application with least privilege.
// The server must let it in as it lets ServerURL's user in (trust
// authentication does).
const AppRole = "keytask_test_app"

// DB is a test's own database.
type DB struct {
	URL    string        // connection string of the new database, as ServerURL's user (the schema owner)
	AppURL string        // the same database, logged into as AppRole
	Owner  *pgxpool.Pool // acts as the schema owner; may tamper with the log
	Pool   *pgxpool.Pool // logs in as AppRole and acts as the application's writer role
}

// New creates and migrates a database that lives as long as the test.
func New(tb testing.TB) *DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "keytask_test_" + strings.ToLower(hex.EncodeToString(b))

	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (is Postgres running?)", ServerURL(), err)
	}
	defer admin.Close(ctx)
	// Tests on the whole server share the role; creating it is idempotent
	// and never alters it.
	if err := db.EnsureLoginRole(ctx, admin, AppRole); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	u, err := url.Parse(ServerURL())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	u.Path = "/" + name
	d := &DB{URL: u.String()}
	if d.AppURL, err = db.WithUser(d.URL, AppRole, ""); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}

	tb.Cleanup(func() {
		if d.Pool != nil {
			d.Pool.Close()
		}
		if d.Owner != nil {
			d.Owner.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			tb.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop %s: %v", name, err)
		}
	})

	if d.Owner, err = db.OpenOwner(ctx, d.URL); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if _, err := db.Migrate(ctx, d.Owner); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	if d.Pool, err = db.Open(ctx, d.AppURL); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return d
}
