package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"keytask/db/pgtest"
	"keytask/demo"
	"keytask/domain/performance"
	"keytask/projections"
	"keytask/workflows"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `keytask demo --scale small` plays a whole round through the API on a fresh
// database; while it keeps serving, every batch's list is published and on its
// public page, and the three yearly collections the schedule started are
// closed with late, missing, returned and escalated reports; afterwards the log verifies, and a second demo on the same
// database is refused.
func TestDemoSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole round on an embedded Temporal server")
	}
	d := pgtest.New(t)
	dataDir := t.TempDir()
	env := append(os.Environ(), "KEYTASK_DATA_DIR="+dataDir, "KEYTASK_LOG_KEY=")
	addr := freeAddr(t)
	cmd := exec.Command(binary, "demo", "--scale", "small", "--database-url", d.URL, "--http", addr, "--serve")
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	const serving = "演示完成，继续提供服务"
	deadline := time.After(15 * time.Minute)
wait:
	for {
		select {
		case err := <-exited:
			t.Fatalf("keytask demo exited (%v) before finishing the round:\n%s", err, out)
		case <-deadline:
			t.Fatalf("the demo round did not finish within 15 minutes:\n%s", out)
		case <-time.After(200 * time.Millisecond):
			if strings.Contains(out.String(), serving) {
				break wait
			}
		}
	}
	for _, want := range []string{"[13/14] 公布名单 完成", "[14/14] 2022—2024年度执行绩效采集（3 个年度并行回填） 完成", "整轮用时", "倍加速"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}

	tokenBytes, err := os.ReadFile(filepath.Join(dataDir, "demo", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))
	data, err := demo.Generate(demo.Scales["small"])
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	published := 0
	for _, b := range data.Batches {
		status, body := get(t, base+"/api/v1/selection-batches/"+b.ID, token)
		if status != 200 {
			t.Fatalf("batch %s: %d %s", b.ID, status, body)
		}
		var rec projections.SelectionBatchRecord
		if err := json.Unmarshal([]byte(body), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Stage != "published" || len(rec.Published) == 0 || len(rec.Published) > b.Quota {
			t.Fatalf("batch %s: stage %s, %d published of quota %d", b.ID, rec.Stage, len(rec.Published), b.Quota)
		}
		status, page := get(t, base+"/public/publications/"+b.ID, "")
		if status != 200 {
			t.Fatalf("publication of %s: %d", b.ID, status)
		}
		for _, id := range rec.Published {
			if !strings.Contains(page, id) {
				t.Fatalf("the publication page of %s lacks %s", b.ID, id)
			}
		}
		published += len(rec.Published)
	}

	checkCollections(t, d, base, token, published)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("keytask demo exited with %v after Ctrl-C:\n%s", err, out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("keytask demo did not stop within 2 minutes of Ctrl-C:\n%s", out)
	}

	verify := exec.Command(binary, "audit", "verify")
	verify.Env = append(env, "KEYTASK_DATABASE_URL="+d.URL)
	vout, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(vout), "OK:") || !strings.Contains(string(vout), "every event carries keytask's signature") {
		t.Fatalf("audit verify after the demo: %v\n%s", err, vout)
	}

	// The log now holds the round: a second demo on it is refused and adds nothing.
	var before int64
	if err := d.Owner.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	again := exec.Command(binary, "demo", "--scale", "small", "--database-url", d.URL, "--http", freeAddr(t))
	again.Env = env
	aout, err := again.CombinedOutput()
	if err == nil || !strings.Contains(string(aout), "--database-url: the database already holds") {
		t.Fatalf("a demo on a used database: %v\n%s", err, aout)
	}
	var after int64
	if err := d.Owner.QueryRow(t.Context(), `SELECT count(*) FROM events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the refused demo appended %d events", after-before)
	}
	t.Logf("%d projects published; %s", published, strings.TrimSpace(string(vout)))
	t.Logf("the demo's output:\n%s", out)
}

// checkCollections checks the yearly collections the demo played: each was
// started by the schedule's backfill for its own year, opened a report per
// published project, closed with reports late and missing and escalated, saw
// returns in its log, and its roll-ups add up to its summary.
func checkCollections(t *testing.T, d *pgtest.DB, base, token string, published int) {
	t.Helper()
	for _, year := range demo.CollectionYears {
		path := fmt.Sprintf("%s/api/v1/performance/%d", base, year)
		status, body := get(t, path, token)
		if status != 200 {
			t.Fatalf("collection %d: %d %s", year, status, body)
		}
		var c projections.PerformanceCollectionRow
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.WorkflowID, workflows.PerformanceScheduleID+"-") || c.WorkflowID == workflows.PerformanceCollectionWorkflowID(year) {
			t.Errorf("collection %d ran as %s, not as a run of the schedule", year, c.WorkflowID)
		}
		s := c.Summary
		if c.Stage != "closed" || s == nil || c.Projects != published || s.Projects != published ||
			s.Missing == 0 || s.Late <= s.Missing || s.Submitted+s.Missing != published || len(c.Escalations) == 0 || c.Reminders < s.Missing {
			t.Fatalf("collection %d: %s", year, body)
		}
		status, body = get(t, path+"/rollups", token)
		if status != 200 {
			t.Fatalf("roll-ups %d: %d %s", year, status, body)
		}
		var r struct {
			Rollups []struct{ Reports, Submitted, Late int } `json:"rollups"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatal(err)
		}
		reports, submitted, late := 0, 0, 0
		for _, g := range r.Rollups {
			reports, submitted, late = reports+g.Reports, submitted+g.Submitted, late+g.Late
		}
		if reports != published || submitted != s.Submitted || late != s.Late {
			t.Errorf("roll-ups %d sum to %d reports, %d submitted, %d late; the summary says %d, %d, %d",
				year, reports, submitted, late, published, s.Submitted, s.Late)
		}
		var returned int
		if err := d.Owner.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE type = $1 AND stream_id LIKE $2`,
			performance.TypeReportReturned, performance.ReportStream(year, "%")).Scan(&returned); err != nil {
			t.Fatal(err)
		}
		if returned == 0 {
			t.Errorf("collection %d: no report was returned", year)
		}
		t.Logf("collection %d: %d reports, %d submitted, %d late, %d missing, %d returned, escalated to %d provinces",
			year, s.Projects, s.Submitted, s.Late, s.Missing, returned, len(c.Escalations))
	}
}
