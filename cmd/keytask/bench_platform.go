package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/api"
	"keytask/config"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// benchQueue is the task queue of the bare workflow, the Temporal anchor.
const benchQueue = "keytask-bench-bare"

// benchBareWorkflow is the smallest workflow that does anything: one activity.
func benchBareWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	return workflow.ExecuteActivity(ctx, benchNoop).Get(ctx, nil)
}

func benchNoop(context.Context) error { return nil }

// benchItems is the catalogue of the bench's plan batch.
var benchItems = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
}

// benchForm is a province's form; n varies it so that every save records an event.
func benchForm(n int) intent.FormInput {
	return intent.FormInput{Lines: []intent.LineInput{
		{Item: "1", Undertake: json.RawMessage("true"), Quantity: json.RawMessage(fmt.Sprint(1 + n%50)),
			Funds: map[string]json.RawMessage{"school": json.RawMessage(`"12.5"`), "provincial": json.RawMessage("100")}},
		{Item: "2.1", Undertake: json.RawMessage("true"), Quantity: json.RawMessage("3"),
			Funds: map[string]json.RawMessage{"industry": json.RawMessage(`"1234.5678"`)}},
		{Item: "4", Undertake: json.RawMessage("false")},
	}}
}

var benchProvinces = []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
	"42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"}

// benchPlatform runs the whole platform in this process — embedded Temporal in
// memory, worker, projector, sealer, HTTP on loopback — over its own database,
// and measures Temporal, the API and memory.
func benchPlatform(ctx context.Context, cfg config.Config, dbURL string, o benchOptions, log *slog.Logger) ([]figure, []string, []string, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dataDir, err := os.MkdirTemp("", "keytask-bench-")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(dataDir)
	runtimeURL, err := runtimeLogin(ctx, dbURL, func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) })
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.DatabaseURL, cfg.MigrateDatabaseURL, cfg.DataDir = runtimeURL, dbURL, dataDir
	if _, err := loadLogKey(cfg, true); err != nil {
		return nil, nil, nil, err
	}

	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	srv, err := devserver.Start(sctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("embedded Temporal server: %w", err)
	}
	defer srv.Stop() //nolint:errcheck // a scratch server
	p, err := openPlatform(ctx, cfg, srv.FrontendAddr(), quiet)
	if err != nil {
		return nil, nil, nil, err
	}
	defer p.close()

	runCtx, stop := context.WithCancel(ctx)
	g := &group{stop: stop}
	defer func() { stop(); _ = g.wait() }()
	g.goRun("sealer", func() error { return p.runSealer(runCtx) })
	g.goRun("projector", func() error { return p.runProjector(runCtx) })
	g.goRun("worker", func() error { return p.runWorker(runCtx) })
	bare := worker.New(p.tc, benchQueue, worker.Options{})
	bare.RegisterWorkflow(benchBareWorkflow)
	bare.RegisterActivity(benchNoop)
	if err := bare.Start(); err != nil {
		return nil, nil, nil, err
	}
	defer bare.Stop()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	hs := &http.Server{Handler: api.New(api.Config{Pool: p.pool, Store: p.store, Registry: p.reg, Temporal: p.tc, Logger: quiet}).Handler(),
		ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	h := &benchHTTP{base: "http://" + ln.Addr().String(), c: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0}}}
	token, _, err := api.SeedAdmin(ctx, p.store, dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	h.admin = token
	if err := h.until(ctx, "the administrator's account", "GET", "/api/v1/me", token, nil); err != nil {
		return nil, nil, nil, err
	}
	baseRSS, _ := memoryKB()

	var out []figure
	var warns, notes []string
	f, err := benchTemporal(ctx, p.tc, h, o)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("temporal: %w", err)
	}
	out = append(out, f)
	fs, w, n, err := benchAPI(ctx, h, p.store, o)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api: %w", err)
	}
	out, warns, notes = append(out, fs...), append(warns, w...), append(notes, n...)

	_, peak := memoryKB()
	out = append(out, figure{Name: "peak memory (RSS, whole process incl. embedded Temporal)", Value: peak / 1024, Unit: "MiB",
		Anchor: "RSS once everything had started", AnchorValue: baseRSS / 1024, Better: "lower"})
	log.Debug("bench platform done")
	return out, warns, notes, nil
}

// benchTemporal measures Temporal tasks (workflow and activity tasks) per
// second of intent rounds driven through their updates — each province saves a
// draft and submits — beside bare one-activity workflows on the same server.
func benchTemporal(ctx context.Context, tc client.Client, h *benchHTTP, o benchOptions) (figure, error) {
	rounds, provinces, bareN := 4, 16, 200
	if o.Quick {
		rounds, provinces, bareN = 1, 2, 10
	}
	if _, err := h.do(ctx, "POST", "/api/v1/plan-batches", h.admin, map[string]any{"batch_id": "bench", "name": "基准测试批次", "items": benchItems}, http.StatusCreated); err != nil {
		return figure{}, err
	}
	if err := h.until(ctx, "the plan batch", "GET", "/api/v1/plan-batches/bench", h.admin, nil); err != nil {
		return figure{}, err
	}

	// The anchor: bare workflows, all started at once, waited for.
	began := time.Now()
	var ids []string
	var runs []client.WorkflowRun
	for i := 0; i < bareN; i++ {
		id := fmt.Sprintf("bench-bare-%d", i)
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: benchQueue}, benchBareWorkflow)
		if err != nil {
			return figure{}, err
		}
		ids, runs = append(ids, id), append(runs, run)
	}
	for _, r := range runs {
		if err := r.Get(ctx, nil); err != nil {
			return figure{}, err
		}
	}
	bareSecs := time.Since(began).Seconds()
	bareTasks, err := countTasks(ctx, tc, ids)
	if err != nil {
		return figure{}, err
	}

	// The realistic load: rounds opened through the API, then every province's
	// draft and submission as Workflow Updates, all rounds at once.
	began = time.Now()
	ids = nil
	for r := 0; r < rounds; r++ {
		round := fmt.Sprintf("bench-%d", r)
		if _, err := h.do(ctx, "POST", "/api/v1/intent-rounds", h.admin, map[string]any{"round_id": round, "batch_id": "bench",
			"deadline": time.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)}, http.StatusCreated); err != nil {
			return figure{}, err
		}
		ids = append(ids, workflows.IntentRoundWorkflowID(round))
	}
	var wg sync.WaitGroup
	errs := make(chan error, rounds*provinces)
	for r := 0; r < rounds; r++ {
		for _, prov := range benchProvinces[:provinces] {
			wg.Add(1)
			go func(wid, prov string) {
				defer wg.Done()
				actor := events.Metadata{ActorID: "bench-" + prov, Role: "province", Organisation: prov}
				for i, name := range []string{workflows.UpdateSaveIntentDraft, workflows.UpdateSubmitIntent} {
					hd, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: wid, UpdateName: name,
						Args: []any{workflows.FormCommand{Province: prov, Input: benchForm(i), Actor: actor}}, WaitForStage: client.WorkflowUpdateStageCompleted})
					var res workflows.FormResult
					if err == nil {
						err = hd.Get(ctx, &res)
					}
					if err != nil {
						errs <- fmt.Errorf("%s %s %s: %w", wid, prov, name, err)
						return
					}
				}
			}(ids[r], prov)
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return figure{}, err
	}
	roundSecs := time.Since(began).Seconds()
	roundTasks, err := countTasks(ctx, tc, ids)
	if err != nil {
		return figure{}, err
	}
	return figure{Name: fmt.Sprintf("Temporal: %d intent rounds × %d provinces (draft + submit updates)", rounds, provinces),
		Value: float64(roundTasks) / roundSecs, Unit: "tasks/s",
		Anchor: fmt.Sprintf("%d bare one-activity workflows, same server", bareN), AnchorValue: float64(bareTasks) / bareSecs, Better: "higher"}, nil
}

// countTasks counts the workflow and activity tasks the workflows' histories record.
func countTasks(ctx context.Context, tc client.Client, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return 0, err
			}
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				n++
			}
		}
	}
	if n == 0 {
		return 0, errors.New("the histories record no task")
	}
	return n, nil
}

// benchAPI loads a read endpoint and a write endpoint at fixed rates, each
// beside /healthz loaded at the same rate for as long: the cost of HTTP on
// loopback and of this process's scheduling.
func benchAPI(ctx context.Context, h *benchHTTP, store *events.Store, o benchOptions) ([]figure, []string, []string, error) {
	pool := store.Pool()
	const round = "bench-0"
	read := "/api/v1/intent-rounds/" + round + "/summary"
	if err := h.until(ctx, "the round's summary", "GET", read, h.admin, nil); err != nil {
		return nil, nil, nil, err
	}
	// The writes go to a round of their own, where no province has submitted.
	const writeRound = "bench-api"
	if _, err := h.do(ctx, "POST", "/api/v1/intent-rounds", h.admin, map[string]any{"round_id": writeRound, "batch_id": "bench",
		"deadline": time.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)}, http.StatusCreated); err != nil {
		return nil, nil, nil, err
	}
	// Province users for the writes: each saves its own draft through the API.
	tokens := map[string]string{}
	for _, prov := range benchProvinces[:4] {
		user := "bench-tj-" + prov
		if _, err := h.do(ctx, "POST", "/api/v1/users", h.admin, map[string]any{"user_id": user, "name": "基准测试省厅" + prov,
			"role": "province", "organisation": prov}, http.StatusCreated); err != nil {
			return nil, nil, nil, err
		}
		token, err := issueToolToken(ctx, store, user, "基准测试")
		if err != nil {
			return nil, nil, nil, err
		}
		tokens[prov] = token
		if err := h.until(ctx, "the province user", "GET", "/api/v1/me", token, nil); err != nil {
			return nil, nil, nil, err
		}
	}
	provs := benchProvinces[:4]

	var out []figure
	var warns, notes []string
	for _, c := range []struct {
		name    string
		rate    int
		req     func(i int) (method, path, token string, body any)
		target  float64
		profile string // the file name prefix of the phase's profiles, if any
	}{
		{fmt.Sprintf("API read GET …/intent-rounds/{round}/summary at %d req/s", o.ReadRate), o.ReadRate,
			func(int) (string, string, string, any) { return "GET", read, h.admin, nil }, 20, "read"},
		{fmt.Sprintf("API write PUT …/provinces/{p}/draft (a Temporal update) at %d req/s", o.WriteRate), o.WriteRate,
			func(i int) (string, string, string, any) {
				prov := provs[i%len(provs)]
				return "PUT", "/api/v1/intent-rounds/" + writeRound + "/provinces/" + prov + "/draft", tokens[prov], benchForm(i + 2)
			}, 0, ""},
	} {
		anchor, _, _, err := h.load(ctx, c.rate, o.Duration, func(int) (string, string, string, any) { return "GET", "/healthz", "", nil })
		if err != nil {
			return nil, nil, nil, err
		}
		var stopProfile func() error
		if o.Profile != "" && c.profile != "" {
			if stopProfile, err = startProfile(o.Profile, c.profile); err != nil {
				return nil, nil, nil, err
			}
		}
		before := pool.Stat()
		lat, failed, why, err := h.load(ctx, c.rate, o.Duration, c.req)
		if err != nil {
			return nil, nil, nil, err
		}
		after := pool.Stat()
		if stopProfile != nil {
			if err := stopProfile(); err != nil {
				return nil, nil, nil, err
			}
		}
		notes = append(notes, poolNote(c.name, before, after))
		if failed > 0 {
			warns = append(warns, fmt.Sprintf("%s: %d of %d requests failed, e.g. %s", c.name, failed, len(lat), why))
		}
		p50, p99 := quantile(lat, 0.50), quantile(lat, 0.99)
		a50, a99 := quantile(anchor, 0.50), quantile(anchor, 0.99)
		f50 := figure{Name: c.name + ", p50", Value: p50, Unit: "ms", Anchor: "GET /healthz at the same rate, p50", AnchorValue: a50, Better: "lower"}
		f99 := figure{Name: c.name + ", p99", Value: p99, Unit: "ms", Anchor: "GET /healthz at the same rate, p99", AnchorValue: a99, Better: "lower"}
		if c.target > 0 {
			f99.Target = fmt.Sprintf("≤ %.0f ms at 500 req/s", c.target)
			if c.rate >= 500 {
				f99.Met = met(p99 <= c.target && failed == 0)
			}
		}
		out = append(out, f50, f99)
	}
	return out, warns, notes, nil
}

// poolNote says how often the phase's requests, and everything else in the
// process, waited for one of the pool's connections and for how long: a pool
// too small for the load shows here before it shows as latency.
func poolNote(phase string, before, after *pgxpool.Stat) string {
	acquires := after.AcquireCount() - before.AcquireCount()
	waited := after.EmptyAcquireCount() - before.EmptyAcquireCount()
	wait := after.EmptyAcquireWaitTime() - before.EmptyAcquireWaitTime()
	return fmt.Sprintf("%s: %d connection acquires, %d waited for a free connection (%s in all); pool of %d",
		phase, acquires, waited, wait.Round(time.Millisecond), after.MaxConns())
}

// startProfile starts a CPU profile into dir/name-cpu.pprof and writes the
// allocations so far to dir/name-allocs-base.pprof; the function it returns
// stops the CPU profile and writes dir/name-allocs.pprof, so that
// go tool pprof -base name-allocs-base.pprof name-allocs.pprof shows what the
// phase allocated.
func startProfile(dir, name string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	writeAllocs := func(file string) error {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := writeAllocs(name + "-allocs-base.pprof"); err != nil {
		return nil, err
	}
	cpu, err := os.Create(filepath.Join(dir, name+"-cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return err
		}
		return writeAllocs(name + "-allocs.pprof")
	}, nil
}

func quantile(ms []float64, q float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	s := slices.Clone(ms)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// benchHTTP is a client of the bench's own server.
type benchHTTP struct {
	base, admin string
	c           *http.Client
}

func (h *benchHTTP) request(ctx context.Context, method, path, token string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends one request and wants status.
func (h *benchHTTP) do(ctx context.Context, method, path, token string, body any, status int) ([]byte, error) {
	req, err := h.request(ctx, method, path, token, body)
	if err != nil {
		return nil, err
	}
	res, err := h.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		return b, fmt.Errorf("%s %s: %d %s, want %d", method, path, res.StatusCode, strings.TrimSpace(string(b)), status)
	}
	return b, nil
}

// until retries a GET until it answers 200: the projector has caught up.
func (h *benchHTTP) until(ctx context.Context, what, method, path, token string, body any) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := h.do(ctx, method, path, token, body, http.StatusOK)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// load sends requests at a fixed rate for d, open loop: request i is due at
// start + i/rate whether or not earlier ones have answered, and its latency
// counts from when it was due, so a stall is not hidden by sending less.
func (h *benchHTTP) load(ctx context.Context, rate int, d time.Duration, next func(i int) (method, path, token string, body any)) ([]float64, int, string, error) {
	n := max(1, int(float64(rate)*d.Seconds()))
	interval := time.Second / time.Duration(rate)
	lat := make([]float64, n)
	ok := make([]bool, n)
	var sample sync.Once
	var why string
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		if ctx.Err() != nil {
			return nil, 0, "", ctx.Err()
		}
		method, path, token, body := next(i)
		req, err := h.request(ctx, method, path, token, body)
		if err != nil {
			return nil, 0, "", err
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := h.c.Do(req)
			if err == nil {
				// A success's body is only drained: the generator shares the
				// server's process and heap, and copying every answer would
				// add garbage collections, and so stalls, that the server
				// itself does not cause.
				ok[i] = res.StatusCode < 300
				if ok[i] {
					if _, err = io.Copy(io.Discard, res.Body); err != nil {
						ok[i] = false
					}
				} else {
					b, _ := io.ReadAll(res.Body)
					err = fmt.Errorf("%d %s", res.StatusCode, strings.TrimSpace(string(b)))
				}
				res.Body.Close()
			}
			lat[i] = float64(time.Since(due).Microseconds()) / 1000
			if err != nil {
				sample.Do(func() { why = err.Error() })
			}
		}(i)
	}
	wg.Wait()
	failed := 0
	for _, v := range ok {
		if !v {
			failed++
		}
	}
	return lat, failed, why, nil
}
