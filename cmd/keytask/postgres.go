package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db"
)

// privatePort is where a private cluster under the data dir listens, away from a
// system Postgres on 5432.
const privatePort = "54329"

// ensureDatabase makes sure the configured database exists and answers. When no
// database URL was configured and no server answers, it starts a private cluster
// under dataDir from the Postgres binaries installed on the machine. It returns the
// URL to use and a function that stops what it started.
func ensureDatabase(ctx context.Context, cfgURL string, urlSet bool, dataDir string, logf func(string, ...any)) (string, func(), error) {
	stop := func() {}
	if err := ping(ctx, adminURL(cfgURL)); err != nil {
		if urlSet {
			return "", stop, fmt.Errorf("database %s does not answer: %w", redact(cfgURL), err)
		}
		logf("no Postgres answers at %s (%v); starting a private cluster under %s", redact(cfgURL), err, dataDir)
		var startErr error
		cfgURL, stop, startErr = startPrivateCluster(ctx, dataDir, logf)
		if startErr != nil {
			return "", stop, startErr
		}
	}
	if err := createDatabase(ctx, cfgURL); err != nil {
		stop()
		return "", func() {}, err
	}
	return cfgURL, stop, nil
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}

// adminURL is the same server's maintenance database.
func adminURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.Path = "/postgres"
	return p.String()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable url)"
	}
	return p.Redacted()
}

func createDatabase(ctx context.Context, u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(p.Path, "/")
	if name == "" {
		return errors.New("the database url names no database")
	}
	c, err := pgx.Connect(ctx, adminURL(u))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(adminURL(u)), err)
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var again bool
		// Another process may have created it in between.
		if c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&again); again {
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// pgBinDir finds the newest installed Postgres server binaries.
func pgBinDir() (string, error) {
	dir, err := db.ServerBinDir()
	if err != nil {
		return "", fmt.Errorf("%w (install the postgresql package, or set KEYTASK_DATABASE_URL)", err)
	}
	return dir, nil
}

// startPrivateCluster initialises (once) and starts a cluster in dataDir/postgres.
// Postgres refuses to run as root, so as root it runs as the postgres user.
func startPrivateCluster(ctx context.Context, dataDir string, logf func(string, ...any)) (string, func(), error) {
	bin, err := pgBinDir()
	if err != nil {
		return "", func() {}, err
	}
	dir := filepath.Join(dataDir, "postgres")
	var asUser []string
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return "", func() {}, errors.New("running as root and there is no postgres user to run a private cluster as")
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(ctx context.Context, name string, args ...string) error {
		argv := append(append([]string{}, asUser...), append([]string{filepath.Join(bin, name)}, args...)...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", func() {}, err
	}
	if len(asUser) > 0 {
		if err := exec.Command("chown", "-R", "postgres:postgres", dir).Run(); err != nil {
			return "", func() {}, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		logf("initialising a private Postgres cluster in %s", dir)
		if err := run(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
			return "", func() {}, err
		}
	}
	if err := run(ctx, "pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-w", "-o",
		"-p "+privatePort+" -c listen_addresses=127.0.0.1 -k "+dir, "start"); err != nil {
		return "", func() {}, err
	}
	// The stop runs after Ctrl-C has cancelled ctx, so it gets a context of its own.
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := run(sctx, "pg_ctl", "-D", dir, "-m", "fast", "-w", "stop"); err != nil {
			logf("stopping the private Postgres cluster: %v", err)
		}
	}
	u := "postgres://postgres@127.0.0.1:" + privatePort + "/keytask?sslmode=disable"
	logf("private Postgres cluster listening on 127.0.0.1:%s", privatePort)
	return u, stop, nil
}

// devLoginRole is the role dev, demo and bench run the platform as on a
// server whose superuser they were given.
const devLoginRole = "keytask_app"

// runtimeLogin returns the URL the platform's processes log in with, given the
// owner's: when ownerURL is a superuser's, the same database as devLoginRole,
// which holds only the writer role's privileges (db.EnsureLoginRole), so that
// no SQL the platform runs can RESET ROLE into superuser rights. A server that
// will not let that role in (it asks for a password) leaves ownerURL, said in
// a warning.
func runtimeLogin(ctx context.Context, ownerURL string, logf func(string, ...any)) (string, error) {
	c, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", redact(ownerURL), err)
	}
	defer c.Close(ctx)
	var super bool
	if err := c.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = session_user`).Scan(&super); err != nil {
		return "", fmt.Errorf("database %s: %w", redact(ownerURL), err)
	}
	if !super {
		return ownerURL, nil
	}
	if err := db.EnsureLoginRole(ctx, c, devLoginRole); err != nil {
		return "", err
	}
	u, err := db.WithUser(ownerURL, devLoginRole, "")
	if err != nil {
		return "", err
	}
	if err := ping(ctx, u); err != nil {
		logf("WARNING: the server does not let %s log in (%v); the platform runs as %s, a superuser", devLoginRole, err, redact(ownerURL))
		return ownerURL, nil
	}
	return u, nil
}
