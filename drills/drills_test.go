// Package drills holds fault drills: time-bounded tests that break the platform
// on purpose while it works — a worker or projector killed mid-flight, every
// Watermill delivery duplicated, conflicting commands at once — and then check
// that nothing was lost or duplicated, that the read models equal a fresh
// rebuild and that the audit walk of the log passes.
package drills

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

var binary string // the keytask command, built once for the drills that kill it

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every drill skips itself; nothing to build
	}
	dir, err := os.MkdirTemp("", "keytask-drills")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "keytask")
	code := 0
	if out, err := exec.Command("go", "build", "-o", binary, "keytask/cmd/keytask").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build keytask: %v\n%s", err, out)
		code = 1
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one drill's platform: its own database and embedded Temporal server.
type env struct {
	t     *testing.T
	d     *pgtest.DB
	key   []byte
	store *events.Store
	tc    client.Client
	addr  string
	ctx   context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("fault drill: embedded Temporal server, processes killed on purpose")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, d: pgtest.New(t), key: make([]byte, 32), ctx: ctx}
	_, _ = rand.Read(e.key)
	e.store = events.NewStore(e.d.Pool, events.WithMACKey(e.key))
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	e.addr = srv.FrontendAddr()
	if e.tc, err = client.DialContext(ctx, client.Options{HostPort: e.addr, Logger: sdklog.NewStructuredLogger(quiet)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.tc.Close)
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.store.RunSealer(sctx, 100*time.Millisecond, func(string, ...any) {}); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return e
}

// worker runs a worker in this process until the test ends.
func (e *env) worker() {
	w := worker.New(e.tc, temporalx.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: e.store})
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
}

// projector runs every projection in this process until the test ends.
func (e *env) projector(duplicate bool) *projections.Projector {
	pr, err := projections.NewProjector(e.d.Pool, e.store, prometheus.NewRegistry(), quiet, projections.All()...)
	if err != nil {
		e.t.Fatal(err)
	}
	if duplicate {
		pr.AddHandlerMiddleware(middleware.Duplicator)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pr.Run(ctx) }()
	e.t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			e.t.Errorf("projector: %v", err)
		}
	})
	return pr
}

// process is a keytask command running as a child process, to be killed.
type process struct {
	args []string
	env  []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	logs strings.Builder
}

func (e *env) process(args ...string) *process {
	p := &process{args: args, env: append(os.Environ(), "KEYTASK_DATABASE_URL="+e.d.URL, "KEYTASK_TEMPORAL_ADDRESS="+e.addr,
		"KEYTASK_LOG_KEY="+hex.EncodeToString(e.key), "KEYTASK_DATA_DIR="+e.t.TempDir())}
	p.start(e.t)
	e.t.Cleanup(func() { p.kill() })
	return p
}

func (p *process) start(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Env = p.env
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// kill sends SIGKILL: no cleanup, no graceful stop, as when a machine dies.
func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// killRepeatedly kills p up to times times, restarting it after each kill,
// until stop closes, and returns how many times it killed it. Each kill waits
// until progress() has moved since p started — the process is doing work — and
// then a little longer, so that it lands in the middle of that work rather than
// during start-up.
func killRepeatedly(t *testing.T, p *process, times int, progress func() int64, stop <-chan struct{}) <-chan int {
	n := make(chan int, 1)
	go func() {
		kills := 0
		defer func() { n <- kills }()
		for kills < times {
			from := progress()
			for progress() == from {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
			time.Sleep(time.Duration(kills%4) * 50 * time.Millisecond)
			p.kill()
			kills++
			p.start(t)
		}
	}()
	return n
}

// untilCaughtUp waits, at most d, until every projection has applied every
// committed event.
func (e *env) untilCaughtUp(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		st, err := projections.ReadStatus(context.Background(), e.d.Pool)
		if err != nil || len(st) < len(projections.All()) {
			continue
		}
		behind := false
		for _, s := range st {
			behind = behind || s.LagEvents > 0
		}
		if !behind {
			return
		}
	}
}

// eventCount is the number of events in the log, a measure of progress.
func (e *env) eventCount() int64 {
	var n int64
	if err := e.d.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return -1
	}
	return n
}

// checkpointSum counts the events the projections have applied: it moves
// whenever one applies an event.
func (e *env) checkpointSum() int64 {
	var n int64
	if err := e.d.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(events), 0) FROM projection_checkpoints`).Scan(&n); err != nil {
		return -1
	}
	return n
}

var drillItems = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
}

func drillForm(n int) intent.FormInput {
	return intent.FormInput{Lines: []intent.LineInput{
		{Item: "1", Undertake: json.RawMessage("true"), Quantity: json.RawMessage(fmt.Sprint(1 + n)),
			Funds: map[string]json.RawMessage{"school": json.RawMessage(`"12.5"`)}},
		{Item: "4", Undertake: json.RawMessage("true"), Quantity: json.RawMessage("1"), Funds: map[string]json.RawMessage{"provincial": json.RawMessage("3")}},
	}}
}

var drillProvinces = []string{"11", "12", "13", "14", "15", "21", "22", "23"}

// openRound starts an intent round's workflow.
func (e *env) openRound(round string) {
	e.t.Helper()
	_, err := e.tc.ExecuteWorkflow(e.ctx, client.StartWorkflowOptions{ID: workflows.IntentRoundWorkflowID(round), TaskQueue: temporalx.TaskQueue},
		workflows.IntentRoundWorkflowName, workflows.IntentRoundParams{RoundID: round, BatchID: "drill", Items: drillItems,
			Provinces: drillProvinces, Deadline: time.Now().Add(30 * 24 * time.Hour),
			Actor: events.Metadata{ActorID: "admin", Role: "ministry"}})
	if err != nil {
		e.t.Fatal(err)
	}
}

// command sends one update with a fixed update id, retrying through failures
// of the platform (a killed worker) until it completes: Temporal deduplicates
// by the id, so a retry can never act twice. It returns the rule's refusal, if any.
func (e *env) command(round, updateID, name string, cmd any) error {
	for {
		ctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
		h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.IntentRoundWorkflowID(round),
			UpdateID: updateID, UpdateName: name, Args: []any{cmd}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			var res workflows.FormResult
			err = h.Get(ctx, &res)
		}
		cancel()
		if err == nil {
			return nil
		}
		derr := workflows.DomainError(err)
		var fe *domain.FieldError
		var ce *domain.ConflictError
		if errors.As(derr, &fe) || errors.As(derr, &ce) {
			return derr // the rules refused it: not the platform's failure
		}
		if e.ctx.Err() != nil {
			return fmt.Errorf("update %s never completed: %w", updateID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// roundLoad has every province of rounds save a draft twice and submit, all
// at once, and waits for every command to complete.
func (e *env) roundLoad(rounds ...string) {
	e.t.Helper()
	var wg sync.WaitGroup
	for _, r := range rounds {
		for _, p := range drillProvinces {
			wg.Add(1)
			go func() {
				defer wg.Done()
				actor := events.Metadata{ActorID: "tj-" + p, Role: "province", Organisation: p}
				for i, name := range []string{workflows.UpdateSaveIntentDraft, workflows.UpdateSaveIntentDraft, workflows.UpdateSubmitIntent} {
					if err := e.command(r, fmt.Sprintf("%s-%s-%d", r, p, i), name, workflows.FormCommand{Province: p, Input: drillForm(i), Actor: actor}); err != nil {
						e.t.Errorf("%s %s %s refused: %v", r, p, name, err)
					}
				}
			}()
		}
	}
	wg.Wait()
}

// wantRoundEvents checks that each form stream of rounds holds exactly the
// events its commands caused, once each, at dense versions.
func (e *env) wantRoundEvents(rounds ...string) {
	e.t.Helper()
	for _, r := range rounds {
		e.wantStream(intent.RoundStream(r), "IntentRoundOpened")
		for _, p := range drillProvinces {
			e.wantStream(intent.FormStream(r, p), "IntentDraftSaved", "IntentDraftSaved", "IntentSubmitted")
		}
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func (e *env) wantStream(stream string, types ...string) {
	e.t.Helper()
	if got := e.streamTypes(stream); !slices.Equal(got, types) {
		e.t.Errorf("%s holds %v, want %v (lost or duplicated events)", stream, got, types)
	}
}

// streamTypes returns the types of a stream's events in version order, checking
// the versions are dense from 1.
func (e *env) streamTypes(stream string) []string {
	e.t.Helper()
	rows, err := e.d.Pool.Query(e.ctx, `SELECT type, stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version`, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	var got []string
	var v int64
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ, &v); err != nil {
			e.t.Fatal(err)
		}
		got = append(got, typ)
		if v != int64(len(got)) {
			e.t.Errorf("%s: version %d at place %d", stream, v, len(got))
		}
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return got
}

// settle waits until the log is sealed and every projection has caught up, then
// checks what every drill must leave: read models equal to a fresh rebuild, a
// gap-free log without duplicate ids, and an audit walk that passes.
func (e *env) settle(pr *projections.Projector) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	if err := pr.WaitCaughtUp(ctx); err != nil {
		e.t.Fatal(err)
	}
	const chainQ = `SELECT (SELECT count(*) FROM events), (SELECT count(DISTINCT id) FROM events),
		(SELECT count(*) FROM event_chain), (SELECT coalesce(max(position), 0) FROM event_chain)`
	var n, ids, sealed, maxPos int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := e.d.Pool.QueryRow(ctx, chainQ).Scan(&n, &ids, &sealed, &maxPos); err != nil {
			e.t.Fatal(err)
		}
		if sealed == n || time.Now().After(deadline) {
			break
		}
	}
	if n != ids {
		e.t.Errorf("%d events but %d distinct ids", n, ids)
	}
	if sealed != n || maxPos != n {
		e.t.Errorf("%d events, %d sealed, highest position %d: the global order has a gap", n, sealed, maxPos)
	}
	for _, p := range projections.All() {
		live, err := projections.Digest(ctx, e.d.Pool, p)
		if err != nil {
			e.t.Fatal(err)
		}
		rebuilt, err := projections.Rebuild(ctx, e.d.Pool, e.store, p, nil)
		if err != nil {
			e.t.Fatal(err)
		}
		if live != rebuilt {
			e.t.Errorf("read model %s differs from its rebuild: live %s, rebuilt %s", p.Name(), live, rebuilt)
		}
	}
	tx, err := e.d.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	rep, err := events.Verify(ctx, tx, e.key, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() || !rep.MACsChecked || rep.Events != n {
		e.t.Errorf("audit verify: %+v (want OK over %d signed events)", rep, n)
	}
	e.t.Logf("%d events, every read model equal to its rebuild, audit verify OK", n)
}

// The worker is killed (SIGKILL) over and over while provinces save and submit:
// every command still completes exactly once.
func TestDrillKillWorker(t *testing.T) {
	e := newEnv(t)
	pr := e.projector(false)
	w := e.process("worker")
	rounds := []string{"kw1", "kw2"}
	for _, r := range rounds {
		e.openRound(r)
	}
	stop := make(chan struct{})
	// Three kills: each one mid-activity holds its round until the activity's
	// 30 s timeout lets Temporal retry it elsewhere.
	kills := killRepeatedly(t, w, 3, e.eventCount, stop)
	e.roundLoad(rounds...)
	close(stop)
	if n := <-kills; n < 2 {
		t.Errorf("the worker was killed only %d times: the load ended too soon to drill anything", n)
	} else {
		t.Logf("worker killed %d times while it worked", n)
	}
	e.wantRoundEvents(rounds...)
	e.settle(pr)
}

// The projector is killed (SIGKILL) over and over while events arrive, often in
// the middle of applying a message; a projector started afterwards catches up
// to read models equal to a rebuild.
func TestDrillKillProjector(t *testing.T) {
	e := newEnv(t)
	e.worker()
	p := e.process("projector")
	rounds := []string{"kp1", "kp2", "kp3", "kp4", "kp5", "kp6"}
	for _, r := range rounds {
		e.openRound(r)
	}
	stop := make(chan struct{})
	kills := killRepeatedly(t, p, 8, e.checkpointSum, stop)
	// One round after another, so the events keep coming while the projector
	// is killed and started again; all at once they are written before its
	// second start.
	for _, r := range rounds {
		e.roundLoad(r)
	}
	// The kills also go on while the projector works through what the load
	// left behind.
	e.untilCaughtUp(time.Minute)
	close(stop)
	if n := <-kills; n < 2 {
		t.Errorf("the projector was killed only %d times: the load ended too soon to drill anything", n)
	} else {
		t.Logf("projector killed %d times while it applied events", n)
	}
	// Only this process's projector runs from here on; the child is gone.
	p.kill()
	pr := e.projector(false)
	e.wantRoundEvents(rounds...)
	e.settle(pr)
}

// Every Watermill delivery arrives twice: the read models still count each
// event once.
func TestDrillDuplicateDeliveries(t *testing.T) {
	e := newEnv(t)
	e.worker()
	pr := e.projector(true)
	rounds := []string{"dup1", "dup2"}
	for _, r := range rounds {
		e.openRound(r)
	}
	e.roundLoad(rounds...)
	e.wantRoundEvents(rounds...)
	e.settle(pr)
}

// Conflicting commands at once: each province's staff save, submit and save
// again concurrently from several places, and raw appends race for the same
// stream version. Exactly the commands reported done are recorded, once each.
func TestDrillConflictingCommands(t *testing.T) {
	e := newEnv(t)
	e.worker()
	pr := e.projector(false)
	const round = "cc"
	e.openRound(round)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := map[string][]string{} // province → event types of the commands that completed
	for _, p := range drillProvinces {
		for c := 0; c < 3; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				actor := events.Metadata{ActorID: "tj-" + p, Role: "province", Organisation: p}
				for i, name := range []string{workflows.UpdateSubmitIntent, workflows.UpdateSaveIntentDraft} {
					err := e.command(round, fmt.Sprintf("%s-%d-%d", p, c, i), name, workflows.FormCommand{Province: p, Input: drillForm(c*2 + i), Actor: actor})
					var ce *domain.ConflictError
					switch {
					case errors.As(err, &ce):
						continue // refused by the rules (already submitted): records nothing
					case err != nil:
						t.Errorf("%s %s: %v", p, name, err)
						continue
					}
					mu.Lock()
					done[p] = append(done[p], map[string]string{workflows.UpdateSubmitIntent: "IntentSubmitted", workflows.UpdateSaveIntentDraft: "IntentDraftSaved"}[name])
					mu.Unlock()
				}
			}()
		}
	}
	// Raw appends racing for the versions of one stream: each version is won once.
	const racers, each = 6, 10
	won := make([]int, racers)
	for r := 0; r < racers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				v, err := e.store.StreamVersion(e.ctx, "drill-race")
				if err != nil {
					t.Error(err)
					return
				}
				_, err = e.store.Append(e.ctx, "drill-race", v, events.NewEvent{ID: events.DeriveID("race", fmt.Sprint(r), fmt.Sprint(i)),
					Type: "DrillRaced", SchemaVersion: 1, Data: json.RawMessage(fmt.Sprintf(`{"racer":%d}`, r)), Metadata: events.Metadata{ActorID: "drill"}})
				var conflict *events.ErrConflict
				switch {
				case errors.As(err, &conflict):
					continue // lost the race for v+1: try the next version
				case err != nil:
					t.Error(err)
					return
				}
				won[r]++
				i++
			}
		}()
	}
	wg.Wait()
	for _, p := range drillProvinces {
		if n := slices.Index(done[p], "IntentSubmitted"); n < 0 || slices.Contains(done[p][n+1:], "IntentSubmitted") {
			t.Errorf("province %s: completed %v, want exactly one submission", p, done[p])
		}
		// Exactly the completed commands are recorded (in the workflow's order,
		// which the clients' completions need not show).
		got := e.streamTypes(intent.FormStream(round, p))
		if len(got) == 0 || !slices.Equal(sorted(got), sorted(done[p])) || got[len(got)-1] != "IntentSubmitted" {
			t.Errorf("province %s: recorded %v, completed %v", p, got, done[p])
		}
	}
	total := 0
	for _, n := range won {
		total += n
	}
	want := make([]string, total)
	for i := range want {
		want[i] = "DrillRaced"
	}
	e.wantStream("drill-race", want...)
	e.settle(pr)
}
