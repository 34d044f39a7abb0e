package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/api"
	"keytask/db/pgtest"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// newTemporalEnv is newEnv with an embedded Temporal server and a worker whose
// activities write to the test's database.
func newTemporalEnv(t *testing.T) (*env, client.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddr(), Logger: sdklog.NewStructuredLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	d := pgtest.New(t)
	e := &env{t: t, d: d, store: events.NewStore(d.Pool)}
	w := worker.New(c, temporalx.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: e.store})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	e.srv = api.New(api.Config{Pool: d.Pool, Store: e.store, Registry: prometheus.NewRegistry(), Temporal: c, Logger: quiet})
	token, _, err := api.SeedAdmin(context.Background(), e.store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.adminToken = token
	e.project()
	return e, c
}

// eventually retries check, bringing the read models up to date before each
// try, until it passes or the time is up.
func (e *env) eventually(within time.Duration, what string, check func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		e.projectAll()
		if check() {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not after %s", what, within)
		}
	}
}

// The whole round through the API and the real workflow: opening, drafts,
// submissions, idempotent retries, refusals that name their field and record
// nothing, a return, an extension, the closing at the deadline, filing and
// feedback, and the read models and exports that follow.
func TestIntentRoundWithTemporal(t *testing.T) {
	t.Parallel()
	e, c := newTemporalEnv(t)
	bj, tj, auditor := e.users()
	want(t, e.do("POST", "/api/v1/plan-batches", e.adminToken, jsonBody(t, map[string]any{"batch_id": "2022-1", "name": "第一批", "items_csv": batch1CSV})),
		http.StatusCreated, "")
	e.projectAll()

	deadline := time.Now().Add(12 * time.Second).Truncate(time.Second)
	open := jsonBody(t, map[string]any{"round_id": "r1", "batch_id": "2022-1", "deadline": deadline.Format(time.RFC3339), "reminder_offsets": []string{"5s"}})
	const base = "/api/v1/intent-rounds/r1"
	form := func(p string) string { return base + "/provinces/" + p }

	t.Run("OpenRefusals", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/intent-rounds", bj, open), http.StatusForbidden, "")
		want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, `{"round_id":"r1","batch_id":"2022-1","deadline":"2022-06-15 18:00"}`),
			http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, `{"round_id":"r1","batch_id":"2022-1","deadline":"2099-06-15 18:00","reminder_offsets":["一周"]}`),
			http.StatusUnprocessableEntity, "reminder_offsets[0]")
		want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, `{"round_id":"r1","batch_id":"nope","deadline":"2099-06-15 18:00"}`),
			http.StatusUnprocessableEntity, "batch_id")
		want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, `{"round_id":"r/1","batch_id":"2022-1","deadline":"2099-06-15 18:00"}`),
			http.StatusUnprocessableEntity, "round_id")
		if _, err := c.DescribeWorkflowExecution(context.Background(), workflows.IntentRoundWorkflowID("r1"), ""); err == nil {
			t.Fatal("a refused request started the workflow")
		}
	})
	t.Run("Open", func(t *testing.T) {
		res := e.do("POST", "/api/v1/intent-rounds", e.adminToken, open, "Idempotency-Key", "open-r1")
		want(t, res, http.StatusCreated, "")
		if res.json["workflow_id"] != workflows.IntentRoundWorkflowID("r1") || res.json["items"] != float64(8) || res.json["provinces"] != float64(32) {
			t.Fatalf("opened %s", res.Body)
		}
		again := e.do("POST", "/api/v1/intent-rounds", e.adminToken, open, "Idempotency-Key", "open-r1")
		want(t, again, http.StatusOK, "")
		if again.json["replayed"] != true || again.json["run_id"] != res.json["run_id"] {
			t.Fatalf("retry %s", again.Body)
		}
		// The same key with another body is refused, naming the key, and
		// does not echo values the round does not have.
		other := strings.Replace(open, `"5s"`, `"7s"`, 1)
		reused := e.do("POST", "/api/v1/intent-rounds", e.adminToken, other, "Idempotency-Key", "open-r1")
		want(t, reused, http.StatusUnprocessableEntity, "Idempotency-Key")
		if reused.str("code") != "idempotency_key_reused" || !strings.Contains(reused.str("error"), "open-r1") || reused.json["replayed"] != nil {
			t.Fatalf("key reused with another body: %s", reused.Body)
		}
		want(t, e.do("POST", "/api/v1/intent-rounds", e.adminToken, open), http.StatusConflict, "round_id")
		e.eventually(20*time.Second, "round in the read model", func() bool {
			return e.do("GET", base, auditor, "").Code == http.StatusOK
		})
	})

	good := `{"lines":[{"item":"1","undertake":true,"quantity":2,"funds":{"school":"0.0001","provincial":"120.5"}},
		{"item":"2.1","undertake":true,"quantity":10,"funds":{"industry":1234.5678}},{"item":"4","undertake":true,"quantity":1,"funds":{"sponsor":"3"}}],"total":"1358.0679"}`
	t.Run("DraftRefusalsRecordNothing", func(t *testing.T) {
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"1","undertake":true,"quantity":2,"funds":{"school":"abc"}}]}`),
			http.StatusUnprocessableEntity, "lines[0].funds.school")
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"1","undertake":true,"quantity":2}],"total":"5"}`),
			http.StatusUnprocessableEntity, "total")
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":[{"item":"1","note":"x"}]}`), http.StatusBadRequest, "note")
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":{}}`), http.StatusBadRequest, "lines")
		want(t, e.do("PUT", form("11")+"/draft", tj, good), http.StatusNotFound, "")
		want(t, e.do("POST", form("11")+"/submit", tj, good), http.StatusNotFound, "")
		want(t, e.do("PUT", form("11")+"/draft", auditor, good), http.StatusForbidden, "")
		if n := e.countEvents(intent.FormStream("r1", "11")); n != 0 {
			t.Fatalf("%d form events after refusals", n)
		}
	})
	t.Run("DraftSubmitReturnResubmit", func(t *testing.T) {
		res := e.do("PUT", form("11")+"/draft", bj, good)
		want(t, res, http.StatusOK, "")
		total := res.json["form"].(map[string]any)["total"].(map[string]any)
		if res.json["status"] != "draft" || total["wan"] != "1358.0679" || total["yuan"] != float64(13580679) {
			t.Fatalf("draft %s", res.Body)
		}
		first := e.do("POST", form("11")+"/submit", bj, good, "Idempotency-Key", "submit-1")
		want(t, first, http.StatusOK, "")
		retry := e.do("POST", form("11")+"/submit", bj, good, "Idempotency-Key", "submit-1")
		want(t, retry, http.StatusOK, "")
		if retry.json["version"] != first.json["version"] || e.countEvents(intent.FormStream("r1", "11")) != 2 {
			t.Fatalf("retried submit: version %v then %v, %d events", first.json["version"], retry.json["version"], e.countEvents(intent.FormStream("r1", "11")))
		}
		want(t, e.do("POST", form("11")+"/submit", bj, good, "Idempotency-Key", "submit-2"), http.StatusConflict, "")
		// A workflow update under a used key with another body is refused
		// instead of answered with the first update's outcome.
		otherForm := strings.Replace(good, `"quantity":2,`, `"quantity":3,`, 1)
		reused := e.do("POST", form("11")+"/submit", bj, otherForm, "Idempotency-Key", "submit-1")
		want(t, reused, http.StatusUnprocessableEntity, "Idempotency-Key")
		if reused.str("code") != "idempotency_key_reused" {
			t.Fatalf("submit under a used key with another body: %s", reused.Body)
		}
		want(t, e.do("POST", form("11")+"/return", e.adminToken, `{"reason":""}`), http.StatusUnprocessableEntity, "reason")
		want(t, e.do("POST", form("11")+"/return", e.adminToken, `{"reason":"请核实省财政投入"}`), http.StatusOK, "")
		want(t, e.do("POST", form("11")+"/return", e.adminToken, `{"reason":"再退一次"}`), http.StatusConflict, "")
		resubmit := strings.Replace(strings.Replace(good, `"120.5"`, `"100"`, 1), `"1358.0679"`, `"1337.5679"`, 1)
		want(t, e.do("POST", form("11")+"/submit", bj, resubmit), http.StatusOK, "")
	})
	t.Run("ExtendAndEarlyFiling", func(t *testing.T) {
		want(t, e.do("POST", form("12")+"/extend", e.adminToken, `{"deadline":"2022-01-01 10:00"}`), http.StatusUnprocessableEntity, "deadline")
		ext := time.Now().Add(time.Hour).Format(time.RFC3339)
		want(t, e.do("POST", form("12")+"/extend", tj, `{"deadline":"`+ext+`"}`), http.StatusForbidden, "")
		want(t, e.do("POST", form("12")+"/extend", e.adminToken, `{"deadline":"`+ext+`"}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/file", e.adminToken, ""), http.StatusConflict, "")
		want(t, e.do("POST", form("11")+"/feedback", e.adminToken, `{"text":"同意"}`), http.StatusConflict, "")
	})
	t.Run("ClosesAtDeadline", func(t *testing.T) {
		e.eventually(time.Until(deadline)+20*time.Second, "round closed", func() bool {
			return e.do("GET", base, auditor, "").json["stage"] == "closed"
		})
		// The ministry never fills in a province's declaration; the province
		// itself can no longer save once the round has closed.
		want(t, e.do("PUT", form("13")+"/draft", e.adminToken, `{"lines":[]}`), http.StatusForbidden, "")
		want(t, e.do("PUT", form("11")+"/draft", bj, `{"lines":[]}`), http.StatusConflict, "")
		r, err := projections.GetRound(context.Background(), e.d.Pool, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if hebei := r.Provinces[2]; hebei.Code != "13" || len(hebei.Reminders) != 1 || hebei.Reminders[0].Offset != 5*time.Second {
			t.Fatalf("hebei %+v: want one reminder 5s before the deadline", hebei)
		}
	})
	t.Run("FileAndFeedback", func(t *testing.T) {
		// Tianjin is still inside its extension: filing would cut it off.
		want(t, e.do("POST", base+"/file", e.adminToken, ""), http.StatusConflict, "")
		want(t, e.do("POST", form("12")+"/submit", tj, `{"lines":[{"item":"2.2","undertake":true,"quantity":20,"funds":{"municipal":"8"}}]}`), http.StatusOK, "")
		want(t, e.do("POST", base+"/file", auditor, ""), http.StatusForbidden, "")
		want(t, e.do("POST", base+"/file", e.adminToken, ""), http.StatusOK, "")
		want(t, e.do("POST", form("11")+"/feedback", e.adminToken, `{"text":"  "}`), http.StatusUnprocessableEntity, "text")
		want(t, e.do("POST", form("11")+"/feedback", e.adminToken, `{"text":"已备案，请按备案结果开展工作"}`), http.StatusOK, "")
		want(t, e.do("PUT", "/api/v1/intent-rounds/nope/provinces/11/draft", bj, `{"lines":[]}`), http.StatusNotFound, "")
	})
	t.Run("ReadModelsAndExports", func(t *testing.T) {
		e.eventually(20*time.Second, "feedback in the read model", func() bool {
			return len(e.do("GET", form("11")+"/form", bj, "").json["feedback"].([]any)) == 1
		})
		f := e.do("GET", form("11")+"/form", bj, "")
		if f.json["status"] != "submitted" || f.json["total"].(map[string]any)["wan"] != "1337.5679" || f.json["stage"] != "filed" {
			t.Fatalf("form %s", f.Body)
		}
		h := e.do("GET", form("11")+"/form/history", bj, "")
		var actions []string
		for _, en := range h.json["entries"].([]any) {
			actions = append(actions, en.(map[string]any)["action"].(string))
		}
		if strings.Join(actions, ",") != "save,submit,return,submit" {
			t.Fatalf("history %v", actions)
		}
		if tjf := e.do("GET", form("12")+"/form", tj, ""); tjf.json["late"] != true || tjf.json["extension"] == nil {
			t.Fatalf("tianjin %s", tjf.Body)
		}
		s := e.do("GET", base+"/summary", auditor, "")
		if s.json["submitted_count"] != float64(2) || s.json["total"].(map[string]any)["wan"] != "1345.5679" {
			t.Fatalf("summary %s", s.Body)
		}
		x := e.do("GET", base+"/summary.xlsx", auditor, "")
		want(t, x, http.StatusOK, "")
		book := openXLSX(t, x.Body.Bytes())
		sm, err := projections.GetSummary(context.Background(), e.d.Pool, "r1")
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range sm.Items {
			for j, src := range intent.Sources {
				wantNumber(t, book, exports.SummarySheet, exports.SummarySourceCol+j, exports.SummaryFirstRow+i, it.Funds.Get(src).Wan())
			}
		}
		wantNumber(t, book, exports.SummarySheet, exports.SummaryTotalCol, exports.SummaryFirstRow+len(sm.Items), "1345.5679")
		for _, p := range intentProjections {
			live, err := projections.Digest(context.Background(), e.d.Pool, p)
			if err != nil {
				t.Fatal(err)
			}
			rebuilt, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, p, nil)
			if err != nil || rebuilt != live {
				t.Fatalf("%s: rebuilt %s, %v; before %s", p.Name(), rebuilt, err, live)
			}
		}
	})
}
