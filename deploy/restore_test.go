package deploy_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/events"
)

// restoreSite is one Postgres cluster with the keytask database on it, and
// the environment keytask's processes run with there.
type restoreSite struct {
	t   *testing.T
	c   *pgtest.Cluster
	env []string
	key []byte
}

func newRestoreSite(t *testing.T, key []byte) *restoreSite {
	s := &restoreSite{t: t, c: pgtest.NewCluster(t), key: key}
	s.env = append(minimalEnv(),
		"KEYTASK_DATABASE_URL="+s.c.URL("keytask"),
		"KEYTASK_LOG_KEY="+hex.EncodeToString(key),
		"KEYTASK_DATA_DIR="+t.TempDir(),
		// Nothing listens there: a process that got as far as Temporal would
		// fail on it, not on the log.
		"KEYTASK_TEMPORAL_ADDRESS=127.0.0.1:1",
		"KEYTASK_HTTP_ADDR=127.0.0.1:0",
		"KEYTASK_MAILER=files",
	)
	s.exec(`CREATE DATABASE keytask`)
	return s
}

// exec runs statements on the cluster's maintenance database.
func (s *restoreSite) exec(sql string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.c.URL("postgres"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		s.t.Fatalf("%s: %v", sql, err)
	}
}

// setEpoch is the runbook's step: stop the cluster, set the epoch of its next
// transaction id, start it.
func (s *restoreSite) setEpoch(epoch string) {
	s.t.Helper()
	if err := s.c.Stop("fast"); err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.Run("pg_resetwal", "-e", epoch, s.c.Dir); err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.Start(); err != nil {
		s.t.Fatal(err)
	}
}

// keytask runs a keytask command to its end against the site.
func (s *restoreSite) keytask(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader("一个足够长的初始密码-2026\n") // for admin create
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// projector starts `keytask projector`, which also seals, until the test ends.
func (s *restoreSite) projector(bin string) {
	s.t.Helper()
	cmd := exec.Command(bin, "projector")
	cmd.Env = s.env
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-done; err != nil {
			s.t.Errorf("keytask projector: %v\n%s", err, logs.String())
		}
	})
}

// register appends a UserRegistered event per name, signed with the site's key.
func (s *restoreSite) register(store *events.Store, names ...string) {
	s.t.Helper()
	for _, n := range names {
		data, _ := json.Marshal(identity.UserRegistered{UserID: n, Name: "用户" + n, Role: identity.RoleAuditor, Organisation: "审计署"})
		if _, err := store.Append(context.Background(), identity.UserStream(n), events.NoStream, events.NewEvent{
			ID: events.DeriveID("restore-test", n), Type: identity.TypeUserRegistered, SchemaVersion: 1, Data: data,
			Metadata: events.Metadata{ActorID: "admin"},
		}); err != nil {
			s.t.Fatal(err)
		}
	}
}

// waitProjected waits until the projector process has sealed n events and
// the users read model, with its checkpoint, reaches them.
func waitProjected(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var sealed, users, behind int
	var err error
	for time.Now().Before(deadline) {
		err = pool.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM event_chain),
			(SELECT count(*) FROM users),
			(SELECT count(*) FROM projection_checkpoints p
			 WHERE (p.tx_id, p.seq) < (SELECT e.tx_id, e.seq FROM events e ORDER BY e.tx_id DESC, e.seq DESC LIMIT 1))`).
			Scan(&sealed, &users, &behind)
		if err == nil && sealed == n && users == n && behind == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("after a minute: %d events sealed, %d users projected, %d projections behind (%v); want %d, %d, 0", sealed, users, behind, err, n, n)
}

// The runbook's logical restore, end to end: a dump of a cluster whose
// transaction ids have run two epochs is restored into a fresh cluster; every
// keytask process refuses to start there and names the fix; after the fix new
// events are sealed after the restored ones, projected, and the audit verifies.
func TestRestoreLogicalDumpIntoFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("initialises two Postgres clusters")
	}
	bin := filepath.Join(t.TempDir(), "keytask")
	if out, err := run(t, nil, "go", "build", "-o", bin, "../cmd/keytask"); err != nil {
		t.Fatalf("build keytask: %v\n%s", err, out)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ctx := context.Background()

	// The platform as it ran for years: its cluster's transaction ids are in
	// their third epoch, as in the incident (8589935318).
	src := newRestoreSite(t, key)
	src.setEpoch("2")
	if out, err := src.keytask(bin, "migrate"); err != nil {
		t.Fatalf("keytask migrate: %v\n%s", err, out)
	}
	srcPool, err := db.Open(ctx, src.c.URL("keytask"))
	if err != nil {
		t.Fatal(err)
	}
	defer srcPool.Close()
	src.projector(bin)
	src.register(events.NewStore(srcPool, events.WithMACKey(key)), "a1", "a2", "a3")
	waitProjected(t, srcPool, 3)

	dump := filepath.Join(t.TempDir(), "keytask.dump")
	f, err := os.Create(dump)
	if err != nil {
		t.Fatal(err)
	}
	pgDump := src.c.Command("pg_dump", "-Fc", "-d", src.c.URL("keytask"))
	var dumpErr strings.Builder
	pgDump.Stdout, pgDump.Stderr = f, &dumpErr
	if err := pgDump.Run(); err != nil {
		t.Fatalf("pg_dump: %v %s", err, dumpErr.String())
	}
	f.Close()

	// The runbook's step 2 into a cluster as fresh as initdb leaves it.
	dst := newRestoreSite(t, key)
	dst.exec(`CREATE ROLE ` + db.WriterRole + ` NOLOGIN`)
	in, err := os.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	pgRestore := dst.c.Command("pg_restore", "--exit-on-error", "-d", dst.c.URL("keytask"))
	pgRestore.Stdin = in
	if out, err := pgRestore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	in.Close()
	dstPool, err := db.Open(ctx, dst.c.URL("keytask"))
	if err != nil {
		t.Fatal(err)
	}
	defer dstPool.Close()
	var restoredText string
	if err := dstPool.QueryRow(ctx, `SELECT e.tx_id::text FROM events e ORDER BY e.tx_id DESC LIMIT 1`).Scan(&restoredText); err != nil {
		t.Fatal(err)
	}
	restored, _ := strconv.ParseUint(restoredText, 10, 64)
	if restored < 2<<32 {
		t.Fatalf("restored tx_id %d: the source cluster's epoch did not take", restored)
	}

	// Every process, a rebuild and the administrator bootstrap refuse to start and name the fix.
	fix := regexp.MustCompile(`pg_resetwal -e (\d+) DATADIR`)
	var epoch string
	for _, args := range [][]string{{"serve"}, {"worker"}, {"projector"}, {"notifier"}, {"projections", "rebuild"}, {"admin", "create", "root"}} {
		out, err := dst.keytask(bin, args...)
		m := fix.FindStringSubmatch(out)
		if err == nil || m == nil || !strings.Contains(out, restoredText) {
			t.Fatalf("keytask %s on the restored log: %v, want a refusal naming tx_id %s and pg_resetwal -e\n%s", strings.Join(args, " "), err, restoredText, out)
		}
		epoch = m[1]
	}
	var events0 int
	if err := dstPool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events0); err != nil || events0 != 3 {
		t.Fatalf("the refused processes changed the log: %d events (%v)", events0, err)
	}
	if epoch != "3" {
		t.Errorf("the refusal names epoch %s, want 3 (one past the restored ids' epoch 2)", epoch)
	}

	// The fix the refusal names; then the platform goes on.
	dstPool.Close()
	dst.setEpoch(epoch)
	dstPool, err = db.Open(ctx, dst.c.URL("keytask"))
	if err != nil {
		t.Fatal(err)
	}
	defer dstPool.Close()
	dst.projector(bin)
	dst.register(events.NewStore(dstPool, events.WithMACKey(key)), "b1", "b2")
	waitProjected(t, dstPool, 5)

	rows, err := dstPool.Query(ctx, `SELECT c.position, e.tx_id::text FROM events e JOIN event_chain c ON c.event_id = e.id
		WHERE e.stream_id = ANY($1) ORDER BY c.position`, []string{identity.UserStream("b1"), identity.UserStream("b2")})
	if err != nil {
		t.Fatal(err)
	}
	var positions []string
	for rows.Next() {
		var pos int64
		var tx string
		if err := rows.Scan(&pos, &tx); err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.ParseUint(tx, 10, 64); n <= restored {
			t.Errorf("new event at position %d has tx_id %s, not past the restored %d", pos, tx, restored)
		}
		positions = append(positions, fmt.Sprint(pos))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(positions, ","); got != "4,5" {
		t.Errorf("new events sealed at positions %s, want 4,5 after the three restored", got)
	}

	out, err := dst.keytask(bin, "audit", "verify")
	if err != nil || !strings.Contains(out, "OK: 5 events verified") {
		t.Errorf("keytask audit verify after the restore: %v\n%s", err, out)
	}
	// The live read models equal a rebuild from the restored and new log.
	out, err = dst.keytask(bin, "projections", "rebuild", "users")
	if err != nil || !strings.Contains(out, "identical to the live model") {
		t.Errorf("keytask projections rebuild users: %v\n%s", err, out)
	}
}
