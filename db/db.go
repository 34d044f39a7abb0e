// Package db opens keytask's Postgres pool and applies the schema migrations that
// are embedded in the binary. The application writes through a restricted role
// (WriterRole) that may append to the event log but never change or remove a row,
// and logs in as a role that holds nothing more (EnsureLoginRole); only
// migrations run as the schema's owner.
package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WriterRole is the role every application connection assumes after connecting.
// Its grants allow INSERT and SELECT on the log, never UPDATE or DELETE.
const WriterRole = "keytask_writer"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open returns a pool whose connections act as WriterRole. The login user must be
// a member of WriterRole: in production a login role made by EnsureLoginRole,
// which gains nothing by leaving WriterRole.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Generic plans: keytask's statements are keyed lookups and inserts whose
		// best plan does not depend on the values, and without this Postgres may
		// re-plan the log's append on every call, which costs more than the
		// insert itself (measured: BenchmarkAppend, single events, 0.5 → 0.8 of
		// a plain INSERT).
		_, err := c.Exec(ctx, "SET ROLE "+WriterRole+"; SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// OpenOwner returns a pool that acts as the login user itself: migrations, tests
// that tamper with the log, and administrative tools use it.
func OpenOwner(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET TIME ZONE 'UTC'")
		return err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// Migration is one embedded schema step.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number: %w", e.Name(), err)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations have version %d", out[i].Version)
		}
	}
	return out, nil
}

// migrationLock serialises concurrent migrators (several processes starting at once).
const migrationLock = 7_462_011

// Migrate applies every embedded migration not yet applied, each in its own
// transaction, and returns the names it applied. It must run as the schema owner,
// not as WriterRole.
func Migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck

	if err := ensureWriterRole(ctx, conn.Conn()); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, m := range ms {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.Version).Scan(&done); err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if done {
			continue
		}
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		applied = append(applied, m.Name)
	}
	return applied, nil
}

// ensureWriterRole creates the cluster-wide writer role once, if the user that
// migrates may (a superuser, or a DBA's CREATEROLE owner); otherwise the role
// must exist already. Roles are shared by all databases of a cluster, so
// concurrent migrations of different databases may race to create it; the
// loser's duplicate error is harmless. The migrating user is made a member
// when it can be, so that a site running everything under one non-superuser
// login keeps working; a separate runtime login role (see EnsureLoginRole)
// needs no such membership.
func ensureWriterRole(ctx context.Context, conn *pgx.Conn) error {
	var exists, super, member bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
		EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1 AND pg_has_role(current_user, oid, 'MEMBER'))`, WriterRole).
		Scan(&exists, &super, &member); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !exists {
		if err := createRole(ctx, conn, WriterRole, "NOLOGIN"); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if super || member {
		return nil
	}
	if _, err := conn.Exec(ctx, "GRANT "+WriterRole+" TO CURRENT_USER"); err != nil && !insufficientPrivilege(err) {
		return fmt.Errorf("migrate: grant %s: %w", WriterRole, err)
	}
	return nil
}

// createRole creates role with options unless it exists, tolerating a
// concurrent creator.
func createRole(ctx context.Context, conn *pgx.Conn, role, options string) error {
	_, err := conn.Exec(ctx, `DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+role+`') THEN
		BEGIN
			CREATE ROLE `+role+` `+options+`;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END;
	END IF;
END $$`)
	if err != nil {
		return fmt.Errorf("create role %s: %w", role, err)
	}
	return nil
}

func insufficientPrivilege(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

// loginRoleName bounds the runtime login role's name: it is spliced into SQL.
var loginRoleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// EnsureLoginRole makes role the login of keytask's processes at run time: it
// logs in without superuser, database, role or replication rights and holds
// only WriterRole's privileges, so a session that leaves WriterRole with RESET
// ROLE gains nothing. conn must be a superuser's (or a CREATEROLE user's), as
// the connection of `keytask dev` to a server it manages is. Roles are
// cluster-wide and other databases' processes may use this one at the same
// moment: an existing role is never altered or dropped; it only gets
// WriterRole if it lacks it. Errors name the role.
func EnsureLoginRole(ctx context.Context, conn *pgx.Conn, role string) error {
	if !loginRoleName.MatchString(role) {
		return fmt.Errorf("login role %q: want lower-case letters, digits and _", role)
	}
	if err := createRole(ctx, conn, WriterRole, "NOLOGIN"); err != nil {
		return err
	}
	if err := createRole(ctx, conn, role,
		"LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT IN ROLE "+WriterRole); err != nil {
		return err
	}
	var super, member bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper, pg_has_role(oid, $2, 'MEMBER') FROM pg_roles WHERE rolname = $1`,
		role, WriterRole).Scan(&super, &member); err != nil {
		return fmt.Errorf("login role %s: %w", role, err)
	}
	if super {
		return fmt.Errorf("login role %s is a superuser: choose another name", role)
	}
	if !member {
		if _, err := conn.Exec(ctx, "GRANT "+WriterRole+" TO "+role); err != nil {
			return fmt.Errorf("grant %s to %s: %w", WriterRole, role, err)
		}
	}
	return nil
}

// WithUser returns url with its user (and password) replaced: the same server
// and database, logged into as someone else.
func WithUser(rawURL, user, password string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String(), nil
}
