package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keytask/db/pgtest"
)

// benchFigure mirrors one figure of `keytask bench --json`.
type benchFigure struct {
	Name        string   `json:"name"`
	Value       *float64 `json:"value"`
	Unit        string   `json:"unit"`
	Anchor      string   `json:"anchor"`
	AnchorValue *float64 `json:"anchor_value"`
	Ratio       *float64 `json:"ratio"`
	Better      string   `json:"better"`
	Target      string   `json:"target"`
	Met         *bool    `json:"met"`
}

// runBenchCmd runs the bench in quick mode against the test server's Postgres.
func runBenchCmd(t *testing.T, args ...string) string {
	t.Helper()
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/keytask" // the bench creates its own scratch databases on this server
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"bench", "--quick"}, args...)...)
	cmd.Env = append(cmd.Environ(), "KEYTASK_DATABASE_URL="+u.String(), "KEYTASK_DATA_DIR="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("keytask bench %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// The bench runs every part and reports each figure beside a positive anchor,
// as a table and as JSON. It checks the report's shape, never a speed.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server and loads the API")
	}
	var rep struct {
		Quick   bool          `json:"quick"`
		CPUs    int           `json:"cpus"`
		Seconds float64       `json:"seconds"`
		Figures []benchFigure `json:"figures"`
		Notes   []string      `json:"notes"`
	}
	profiles := t.TempDir()
	out := runBenchCmd(t, "--json", "--profile", profiles)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json is not JSON: %v\n%s", err, out)
	}
	if !rep.Quick || rep.CPUs < 1 || rep.Seconds <= 0 {
		t.Fatalf("report header: %+v", rep)
	}
	// Every kind of figure the bench promises, each once or more.
	kinds := map[string]int{"append, single events": 0, "append, batches of 100": 0, "projection rebuild": 0,
		"Temporal:": 0, "API read": 0, "API write": 0, "peak memory": 0}
	for _, f := range rep.Figures {
		for k := range kinds {
			if strings.HasPrefix(f.Name, k) {
				kinds[k]++
			}
		}
		if f.Value == nil || f.AnchorValue == nil || f.Ratio == nil || *f.Value <= 0 || *f.AnchorValue <= 0 || *f.Ratio <= 0 {
			t.Errorf("figure %q: value, anchor value and ratio must be positive: %+v", f.Name, f)
		}
		if f.Unit == "" || f.Anchor == "" || (f.Better != "higher" && f.Better != "lower") {
			t.Errorf("figure %q lacks its unit, anchor or direction: %+v", f.Name, f)
		}
		if f.Met != nil && f.Target == "" {
			t.Errorf("figure %q says whether a target is met but names none", f.Name)
		}
	}
	for k, n := range kinds {
		if n == 0 {
			t.Errorf("no figure %q in %s", k, out)
		}
	}
	if n := kinds["API read"] + kinds["API write"]; n != 4 {
		t.Errorf("%d API figures, want p50 and p99 for a read and a write", n)
	}
	// Each API phase says how its requests waited for database connections.
	pools := 0
	for _, n := range rep.Notes {
		if strings.HasPrefix(n, "API ") && strings.Contains(n, "connection acquires") {
			pools++
		}
	}
	if pools != 2 {
		t.Errorf("%d notes on the pool, want one per API phase: %q", pools, rep.Notes)
	}
	// --profile leaves the read phase's profiles, each a gzipped pprof file.
	for _, name := range []string{"read-cpu.pprof", "read-allocs-base.pprof", "read-allocs.pprof"} {
		b, err := os.ReadFile(filepath.Join(profiles, name))
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("profile %s: %d bytes, %v", name, len(b), err)
		}
	}

	table := runBenchCmd(t)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	header := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "figure") && strings.Contains(l, "anchor value") && strings.Contains(l, "ratio") {
			header = i
		}
	}
	if header < 0 {
		t.Fatalf("no table header in:\n%s", table)
	}
	rows := 0
	for _, l := range lines[header+1:] {
		if strings.HasPrefix(l, "warning:") || strings.HasPrefix(l, "note:") {
			continue
		}
		if len(strings.Fields(l)) < 6 {
			t.Errorf("short table row %q", l)
		}
		rows++
	}
	if rows != len(rep.Figures) {
		t.Errorf("table has %d rows, the JSON %d figures:\n%s", rows, len(rep.Figures), table)
	}
}
