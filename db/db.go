// Package db opens keytask's Postgres pool and applies the schema migrations that
// are embedded in the binary. The application writes through a restricted role
// (WriterRole) that may append to the event log but never change or remove a row.
package db

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WriterRole is the role every application connection assumes after connecting.
// Its grants allow INSERT and SELECT on the log, never UPDATE or DELETE.
const WriterRole = "keytask_writer"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open returns a pool whose connections act as WriterRole. The login user must be
// a member of WriterRole (a superuser always is); Migrate grants membership to the
// user that runs it.
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

// ensureWriterRole creates the cluster-wide writer role once and lets the current
// user assume it. Roles are shared by all databases of a cluster, so concurrent
// migrations of different databases may race to create it; the loser's duplicate
// error is harmless.
func ensureWriterRole(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+WriterRole+`') THEN
		BEGIN
			CREATE ROLE `+WriterRole+` NOLOGIN;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END;
	END IF;
END $$`)
	if err != nil {
		return fmt.Errorf("migrate: create role %s: %w", WriterRole, err)
	}
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !super {
		if _, err := conn.Exec(ctx, "GRANT "+WriterRole+" TO CURRENT_USER"); err != nil {
			return fmt.Errorf("migrate: grant %s: %w", WriterRole, err)
		}
	}
	return nil
}
