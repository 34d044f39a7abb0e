package main_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db/pgtest"
	"keytask/events"
)

var auditLogKey = []byte("keytask audit test log key, 32 bytes")

// auditEnv is a platform database with a few signed, sealed events, and the
// environment that points keytask at it.
func auditEnv(t *testing.T) (*pgtest.DB, *events.Store, []string) {
	t.Helper()
	d := pgtest.New(t)
	s := events.NewStore(d.Pool, events.WithMACKey(auditLogKey))
	appendSome(t, s, "user-a", 4)
	env := []string{
		"KEYTASK_DATABASE_URL=" + d.URL,
		"KEYTASK_DATA_DIR=" + t.TempDir(),
		"KEYTASK_LOG_KEY=" + hex.EncodeToString(auditLogKey),
		"KEYTASK_DIGEST_KEY=", "KEYTASK_DIGEST_PUBLIC_KEY=",
	}
	return d, s, env
}

func appendSome(t *testing.T, s *events.Store, stream string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		e := events.NewEvent{ID: events.DeriveID("audit-test", stream, fmt.Sprint(i)), Type: "UserRenamed", SchemaVersion: 1,
			Data: json.RawMessage(fmt.Sprintf(`{"name":"用户%d"}`, i)), Metadata: events.Metadata{ActorID: "admin", Role: "ministry"}}
		if _, err := s.Append(ctx, stream, events.AnyVersion, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
}

func ownerTamper(t *testing.T, d *pgtest.DB, sql ...string) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, d.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		for _, q := range sql {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditDigestCommand(t *testing.T) {
	d, s, env := auditEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "digest.json")

	code, out := runKeytask(env, "audit", "digest", "--out", file)
	if code != 0 || !strings.Contains(out, "generated a digest signing key") {
		t.Fatalf("audit digest: exit %d\n%s", code, out)
	}
	dg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var parsed events.Digest
	if err := json.Unmarshal(dg, &parsed); err != nil || parsed.Position != 4 {
		t.Fatalf("digest %s: %v", dg, err)
	}

	// The log grows; it still extends the digest.
	appendSome(t, s, "user-b", 3)
	code, out = runKeytask(env, "audit", "verify", "--digest", file)
	if code != 0 || !strings.Contains(out, "extends the digest of position 4") || !strings.Contains(out, "digest signature verified with the configured digest key") {
		t.Fatalf("verify an intact, grown log: exit %d\n%s", code, out)
	}
	// An auditor holding only the public key.
	noKey := append(env[:len(env):len(env)], "KEYTASK_DATA_DIR="+t.TempDir(), "KEYTASK_DIGEST_PUBLIC_KEY="+parsed.PublicKey)
	if code, out = runKeytask(noKey, "audit", "verify", "--digest", file); code != 0 {
		t.Fatalf("verify with the public key only: exit %d\n%s", code, out)
	}

	// An edited digest is refused as such.
	edited := filepath.Join(dir, "edited.json")
	os.WriteFile(edited, []byte(strings.Replace(string(dg), `"position": 4`, `"position": 3`, 1)), 0o644)
	if code, out = runKeytask(env, "audit", "verify", "--digest", edited); code != 3 || !strings.Contains(out, "INVALID DIGEST") {
		t.Fatalf("edited digest: exit %d\n%s", code, out)
	}

	// An event behind the digest is rewritten and the chain recomputed: the
	// chain alone is consistent again, the digest is not.
	ownerTamper(t, d, `UPDATE events SET data = '{"name":"冒名"}' WHERE id = (SELECT event_id FROM event_chain WHERE position = 2)`,
		`DELETE FROM event_chain WHERE position >= 2`)
	if err := s.SealCommitted(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, out = runKeytask(env, "audit", "verify", "--digest", file)
	if code != 2 || !strings.Contains(out, "does not extend the digest of position 4") {
		t.Fatalf("verify after tampering: exit %d\n%s", code, out)
	}
	// And no new digest is signed over a tampered log.
	if code, out = runKeytask(env, "audit", "digest"); code != 2 || !strings.Contains(out, "no digest signed") {
		t.Fatalf("digest of a tampered log: exit %d\n%s", code, out)
	}
}

func registerUsers(t *testing.T, s *events.Store, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		e := events.NewEvent{ID: events.DeriveID("audit-test-user", id), Type: "UserRegistered", SchemaVersion: 1,
			Data:     json.RawMessage(fmt.Sprintf(`{"user_id":%q,"name":"用户","role":"school","organisation":"11-001"}`, id)),
			Metadata: events.Metadata{ActorID: "admin", Role: "ministry"}}
		if _, err := s.Append(ctx, "user-"+id, events.NoStream, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAuditReplayCommand(t *testing.T) {
	d, s, env := auditEnv(t) // positions 1..4: events no read model but the timeline uses
	registerUsers(t, s, "u1", "u2")
	registerUsers(t, s, "u3")

	code, out := runKeytask(env, "audit", "replay", "--as-of", "6", "--schema", "audit_six")
	if code != 0 || !strings.Contains(out, "log position 6") {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	var users, timeline int64
	if err := d.Owner.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM audit_six.users), (SELECT count(*) FROM audit_six.timeline)`).Scan(&users, &timeline); err != nil {
		t.Fatal(err)
	}
	if users != 2 || timeline != 6 || !strings.Contains(out, "audit_six.users: 2 rows") {
		t.Fatalf("as of position 6: %d users, %d timeline rows\n%s", users, timeline, out)
	}

	code, out = runKeytask(env, "audit", "replay", "--as-of", "6", "--diff", "7")
	var diff struct {
		Changed []string
		Tables  []struct {
			Table     string
			Added     int
			AddedRows []string `json:"added_rows"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &diff) != nil {
		t.Fatalf("diff: exit %d\n%s", code, out)
	}
	found := false
	for _, td := range diff.Tables {
		if td.Table == "users" {
			found = td.Added == 1 && len(td.AddedRows) == 1 && strings.Contains(td.AddedRows[0], `"user_id": "u3"`)
		}
	}
	if !found || len(diff.Changed) == 0 {
		t.Fatalf("diff 6..7 should add user u3:\n%s", out)
	}

	for _, bad := range [][]string{{"--as-of", "yesterday"}, {"--as-of", "99"}, {"--as-of", "1", "--schema", "public"}, {}} {
		code, out = runKeytask(env, append([]string{"audit", "replay"}, bad...)...)
		if code == 0 {
			t.Errorf("replay %v: exit 0\n%s", bad, out)
		}
	}
}

func TestAuditHistoryCommand(t *testing.T) {
	_, s, env := auditEnv(t)
	ctx := context.Background()
	for i, ev := range []struct{ stream, typ, data string }{
		{"application-x1", "ApplicationCreated", `{"application_id":"x1","batch_id":"b1","province":"11","school":"11-001"}`},
		{"selection-batch-b1", "ObjectionFiled", `{"objection_id":"o1","application":"x1","name":"赵某","contact":"13900000000","text":"不实"}`},
		{"selection-batch-b1", "ObjectionFiled", `{"objection_id":"o2","application":"x2","name":"钱某","contact":"13900000001","text":"不实"}`},
	} {
		e := events.NewEvent{ID: events.DeriveID("history-test", fmt.Sprint(i)), Type: ev.typ, SchemaVersion: 1, Data: json.RawMessage(ev.data),
			Metadata: events.Metadata{ActorID: "u", Role: "school", Organisation: "11-001", WorkflowID: "wf-b1", CorrelationID: "c1"}}
		if _, err := s.Append(ctx, ev.stream, events.AnyVersion, e); err != nil {
			t.Fatal(err)
		}
	}
	code, out := runKeytask(env, "audit", "history", "application", "x1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || strings.Contains(out, "赵某") || !strings.Contains(lines[1], "已隐去") || !strings.Contains(lines[0], `"workflow_id":"wf-b1"`) {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
	if code, out = runKeytask(env, "audit", "history", "application", "x1", "--show-objectors"); code != 0 || !strings.Contains(out, "赵某") {
		t.Fatalf("history for the ministry: exit %d\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "h.xlsx")
	if code, out = runKeytask(env, "audit", "history", "batch", "b1", "--format", "xlsx", "--out", file); code != 0 || !strings.Contains(out, "3 events") {
		t.Fatalf("history xlsx: exit %d\n%s", code, out)
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("workbook: %v", err)
	}
	// Batch b1 published nothing yet: there is no result to explain.
	if code, out = runKeytask(env, "audit", "explain", "b1", "x1"); code == 0 || !strings.Contains(out, "not published") {
		t.Errorf("explain before publication: exit %d\n%s", code, out)
	}
	for _, bad := range [][]string{{"school", "x"}, {"batch", "b1", "--format", "csv"}, {"batch", "b1", "--format", "xlsx"}} {
		if code, out = runKeytask(env, append([]string{"audit", "history"}, bad...)...); code == 0 {
			t.Errorf("history %v: exit 0\n%s", bad, out)
		}
	}
}

func TestAuditHelp(t *testing.T) {
	for _, c := range []string{"verify", "digest", "replay", "history", "explain"} {
		if code, out := runKeytask(nil, "audit", c, "--help"); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("audit %s --help: exit %d\n%s", c, code, out)
		}
	}
}

// A projector runs in a process of its own in production; with
// KEYTASK_METRICS_ADDR it serves its lag gauges for Prometheus.
func TestProjectorServesMetrics(t *testing.T) {
	_, _, env := auditEnv(t)
	addr := freeAddr(t)
	cmd := exec.Command(binary, "projector")
	cmd.Env = append(append(os.Environ(), env...), "KEYTASK_METRICS_ADDR="+addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var body string
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(body, `keytask_projection_lag_events{projection="timeline"} 0`) {
		if time.Now().After(deadline) {
			t.Fatalf("projector metrics never showed the timeline caught up:\n%s\n%s", body, out.String())
		}
		time.Sleep(200 * time.Millisecond)
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("projector after Ctrl-C: %v\n%s", err, out.String())
	}
}
