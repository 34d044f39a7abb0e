package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// With no database configured and none answering, dev starts a private cluster
// under the data dir from the installed Postgres binaries, creates the database,
// and stops the cluster again.
func TestPrivateCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("initialises a Postgres cluster")
	}
	if _, err := pgBinDir(); err != nil {
		t.Skip(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := "postgres://postgres@" + l.Addr().String() + "/keytask?sslmode=disable"
	l.Close() // nothing answers there now

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// dev's context ends with Ctrl-C, before the cluster is stopped.
	devCtx, ctrlC := context.WithCancel(ctx)
	dir := t.TempDir()
	// As root the cluster runs as the postgres user, who must reach the data dir.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	logf := func(f string, a ...any) { t.Logf(f, a...) }
	u, stop, err := ensureDatabase(devCtx, silent, false, dir, logf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		stop()
		t.Fatalf("connect to the private cluster: %v", err)
	}
	var db string
	c.QueryRow(ctx, "SELECT current_database()").Scan(&db)
	c.Close(ctx)
	ctrlC()
	stop()
	if db != "keytask" {
		t.Fatalf("connected to %q, want keytask", db)
	}
	if err := ping(ctx, u); err == nil {
		t.Fatal("the private cluster still answers after stop")
	}

	// A configured database that does not answer is an error, never a private cluster.
	if _, _, err := ensureDatabase(ctx, silent, true, t.TempDir(), logf); err == nil {
		t.Fatal("a configured but silent database was accepted")
	}
}
