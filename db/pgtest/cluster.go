package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"keytask/db"
)

// Cluster is a private Postgres cluster in a temporary directory, for tests
// that stop, reset or restore a whole server: the shared server is never
// restarted by a test.
type Cluster struct {
	tb     testing.TB
	bin    string
	Dir    string // the data directory
	Port   int
	asUser []string
}

// NewCluster initialises and starts a cluster on a free port; it is stopped
// when the test ends. The test is skipped where no Postgres binaries are
// installed.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := db.ServerBinDir()
	if err != nil {
		tb.Skip(err)
	}
	c := &Cluster{tb: tb, bin: bin, Dir: filepath.Join(tb.TempDir(), "pg")}
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root: run it as the postgres user, who
		// must reach the data directory.
		if _, err := user.Lookup("postgres"); err != nil {
			tb.Skip("running as root without a postgres user")
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
		for d := filepath.Dir(c.Dir); d != "/" && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	if len(c.asUser) > 0 {
		if out, err := exec.Command("chown", "-R", "postgres:postgres", c.Dir).CombinedOutput(); err != nil {
			tb.Fatalf("chown: %v %s", err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := c.Run("initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		tb.Fatal(err)
	}
	if err := c.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Stop("immediate") })
	return c
}

// Command returns a command that runs one of the installed Postgres programs
// (pg_dump, pg_resetwal, ...) as the user the cluster runs as.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, c.asUser...), append([]string{filepath.Join(c.bin, name)}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

// Run runs a Postgres program and returns its output in the error if it fails.
func (c *Cluster) Run(name string, args ...string) error {
	out, err := c.Command(name, args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %v: %w: %s", name, args, err, strings.TrimSpace(string(out)))
		c.tb.Log(err)
	}
	return err
}

// Start starts the server. fsync is off: tests stop servers, not machines, and
// share the disk with others.
func (c *Cluster) Start() error {
	return c.Run("pg_ctl", "-D", c.Dir, "-w", "-l", filepath.Join(c.Dir, "server.log"), "-o",
		"-p "+strconv.Itoa(c.Port)+" -c listen_addresses=127.0.0.1 -k "+c.Dir+" -c fsync=off -c max_connections=200", "start")
}

// Stop stops the server: "fast" ends the sessions and shuts down cleanly,
// "immediate" is a crash that the next start recovers from the WAL.
func (c *Cluster) Stop(mode string) error {
	return c.Run("pg_ctl", "-D", c.Dir, "-w", "stop", "-m", mode)
}

// URL is the connection string of database on the cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, database)
}
