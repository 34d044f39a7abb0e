package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
	"keytask/projections"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keytask-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "keytask")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build keytask: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type devProcess struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startDev(t *testing.T, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(binary, "dev")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, out: &out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

// stop sends Ctrl-C and requires a clean exit.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("keytask dev exited with %v after Ctrl-C:\n%s", err, p.out)
		}
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("keytask dev did not stop within 60s of Ctrl-C:\n%s", p.out)
	}
}

func waitHTTP(t *testing.T, url string, p *devProcess) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if p.cmd.ProcessState != nil {
			t.Fatalf("keytask dev exited:\n%s", p.out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200:\n%s", url, p.out)
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually retries check until it passes, for what the projector applies
// asynchronously.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runKeytask(env []string, args ...string) (int, string) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, string(out)
}

// The README's run command: one process brings up the whole platform, stops on
// Ctrl-C, and resumes on restart with its data; the audit command verifies the
// log and names the first bad position after tampering.
func TestDevPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	d := pgtest.New(t)
	httpAddr, uiAddr, feAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := []string{
		"KEYTASK_DATABASE_URL=" + d.URL,
		"KEYTASK_DATA_DIR=" + t.TempDir(),
		"KEYTASK_HTTP_ADDR=" + httpAddr,
		"KEYTASK_TEMPORAL_UI_ADDR=" + uiAddr,
		"KEYTASK_TEMPORAL_EMBEDDED_ADDR=" + feAddr,
		"KEYTASK_TEMPORAL_ADDRESS=",
	}
	base := "http://" + httpAddr

	p := startDev(t, env)
	waitHTTP(t, base+"/healthz", p)
	waitHTTP(t, base+"/readyz", p)
	waitHTTP(t, "http://"+uiAddr+"/", p)
	// The projector registers its metrics once it has set up every read
	// model's tables, which may finish after the API answers.
	var metrics string
	eventually(t, "the projector's metrics", func() bool {
		code, m := get(t, base+"/metrics", "")
		metrics = m
		return code == 200 && strings.Contains(m, "keytask_projection_lag_events")
	})
	for _, name := range []string{"keytask_events_appended_total", "keytask_event_append_duration_seconds",
		"keytask_projection_lag_events", "keytask_projection_lag_seconds", "temporal_", "keytask_http_request"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	checkMetricNames(t, metrics)

	out := p.out.String()
	i := strings.Index(out, "Bearer ")
	if i < 0 {
		t.Fatalf("dev printed no way to log in:\n%s", out)
	}
	token := strings.Fields(out[i+len("Bearer "):])[0]
	token = strings.TrimSuffix(token, "'")
	eventually(t, "the administrator's token to work", func() bool {
		c, _ := get(t, base+"/api/v1/me", token)
		return c == 200
	})
	// A newcomer logs into the pages with the password the banner prints.
	loginURL, password := bannerPassword(t, out)
	if loginURL != base+"/login" {
		t.Errorf("the banner sends newcomers to %s", loginURL)
	}
	eventually(t, "the printed password to log into the pages", func() bool {
		page, code := pageLogin(t, base, "admin", password)
		return page == "/web/" && code == 200
	})

	// A write through the API: a province user.
	body := `{"user_id":"gd-liaison","name":"广东联络员","role":"province","organisation":"44"}`
	req, _ := http.NewRequest("POST", base+"/api/v1/users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	// The administrator makes an API token of their own.
	req, _ = http.NewRequest("POST", base+"/api/v1/tokens", strings.NewReader(`{"label":"运维脚本"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var made struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	if resp.StatusCode != 201 || made.Token == "" {
		t.Fatalf("create a token: %d %+v", resp.StatusCode, made)
	}
	p.stop(t)

	// Restart: the same data, the same tokens, the projector resumes.
	p = startDev(t, env)
	waitHTTP(t, base+"/readyz", p)
	eventually(t, "the new token and the province user after restart", func() bool {
		c, body := get(t, base+"/api/v1/users", made.Token)
		return c == 200 && strings.Contains(body, "广东联络员")
	})
	// The live models are compared with a rebuild below, so the projector
	// must have applied everything before the platform stops.
	eventually(t, "every projection to catch up", func() bool {
		st, err := projections.ReadStatus(context.Background(), d.Owner)
		// Every read model and the notifier, which keeps its checkpoint beside them.
		if err != nil || len(st) != len(projections.All())+1 {
			return false
		}
		for _, s := range st {
			if s.LagEvents != 0 {
				return false
			}
		}
		return true
	})
	p.stop(t)

	// Rebuilding every read model from the log gives what the projector built live.
	code, rebuilt := runKeytask(env, "projections", "rebuild")
	if code != 0 || strings.Count(rebuilt, "identical to the live model") != len(projections.All()) {
		t.Fatalf("projections rebuild: exit %d\n%s", code, rebuilt)
	}

	// The log verifies, and tampering is named.
	code, verify := runKeytask(env, "audit", "verify")
	if code != 0 || !strings.Contains(verify, "OK:") || !strings.Contains(verify, "signature") {
		t.Fatalf("audit verify on an intact log: exit %d\n%s", code, verify)
	}
	ctx := context.Background()
	err = pgx.BeginFunc(ctx, d.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at)
			VALUES (gen_random_uuid(), 'user-intruder', 1, 'UserRegistered', 1, '{"user_id":"intruder","role":"ministry"}', '{}', now())`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A row slipped in at the head, not yet sealed: its missing signature gives it away.
	var head int64
	d.Owner.QueryRow(ctx, `SELECT max(position) FROM event_chain`).Scan(&head)
	code, verify = runKeytask(env, "audit", "verify")
	if code != 2 || !strings.Contains(verify, fmt.Sprintf("first bad position %d", head+1)) {
		t.Fatalf("audit verify after an insert at the head: exit %d\n%s", code, verify)
	}
	err = pgx.BeginFunc(ctx, d.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE events SET data = jsonb_set(data::jsonb, '{name}', '"冒名"')::json WHERE id = (SELECT event_id FROM event_chain WHERE position = 3)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code, verify = runKeytask(env, "audit", "verify")
	if code != 2 || !strings.Contains(verify, "first bad position 3") {
		t.Fatalf("audit verify after tampering: exit %d\n%s", code, verify)
	}
}

// checkMetricNames runs promtool over the exposition, when it is installed; CI
// installs it and sets KEYTASK_REQUIRE_TOOLS so that it cannot be skipped there.
func checkMetricNames(t *testing.T, exposition string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("KEYTASK_REQUIRE_TOOLS") != "" {
			t.Fatal("promtool is required (KEYTASK_REQUIRE_TOOLS is set) but not installed")
		}
		t.Log("promtool not installed; metric names not linted")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"dev", "--help"}, {"serve", "--help"}, {"worker", "--help"}, {"projector", "--help"}, {"notifier", "--help"},
		{"migrate", "--help"}, {"admin", "create", "--help"}, {"audit", "verify", "--help"}, {"projections", "rebuild", "--help"}, {"version", "--help"},
	} {
		code, out := runKeytask(nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("keytask %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	code, out := runKeytask(nil, "version")
	if code != 0 || !strings.Contains(out, "go.temporal.io/sdk v1.50.0") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}
