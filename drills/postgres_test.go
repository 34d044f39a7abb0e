package drills

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/db/pgtest"
	"keytask/events"
	"keytask/projections"
)

// appender writes events straight to the log from several clients at once,
// each to a stream of its own created at version 0, retrying every failure
// with the same event until it is answered: success, or a conflict that says
// an earlier attempt committed although its answer was lost.
type appender struct {
	e        *env
	mu       sync.Mutex
	answered map[string]string // stream → event id answered with success
	retried  int
}

func (a *appender) run(w int, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		stream := fmt.Sprintf("drill-pg-%d-%d", w, i)
		ev := events.NewEvent{ID: events.DeriveID("drill-pg", stream), Type: "DrillAppended", SchemaVersion: 1,
			Data: json.RawMessage(fmt.Sprintf(`{"writer":%d,"n":%d}`, w, i)), Metadata: events.Metadata{ActorID: "drill"}}
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(a.e.ctx, 10*time.Second)
			_, err := a.e.store.Append(ctx, stream, events.NoStream, ev)
			cancel()
			var conflict *events.ErrConflict
			if attempt == 0 && errors.As(err, &conflict) {
				a.e.t.Errorf("%s existed before its first append: %v", stream, err)
				return
			}
			if err == nil || errors.As(err, &conflict) {
				a.mu.Lock()
				a.answered[stream] = ev.ID.String()
				if attempt > 0 {
					a.retried++
				}
				a.mu.Unlock()
				break
			}
			if a.e.ctx.Err() != nil {
				a.e.t.Errorf("append to %s never answered: %v", stream, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// check finds every answered append in the log exactly once, and nothing the
// appenders did not send.
func (a *appender) check() {
	e := a.e
	rows, err := e.d.Pool.Query(e.ctx, `SELECT stream_id, id::text, count(*) OVER (PARTITION BY stream_id) FROM events WHERE stream_id LIKE 'drill-pg-%'`)
	if err != nil {
		e.t.Fatal(err)
	}
	found := map[string]string{}
	for rows.Next() {
		var stream, id string
		var n int
		if err := rows.Scan(&stream, &id, &n); err != nil {
			e.t.Fatal(err)
		}
		if n != 1 {
			e.t.Errorf("%s holds %d events: duplicated", stream, n)
		}
		found[stream] = id
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	for stream, id := range a.answered {
		if got, ok := found[stream]; !ok {
			e.t.Errorf("append to %s was answered with success but is not in the log: lost", stream)
		} else if got != id {
			e.t.Errorf("%s holds event %s, the append was answered for %s", stream, got, id)
		}
	}
	for stream := range found {
		if _, ok := a.answered[stream]; !ok {
			e.t.Errorf("%s is in the log but its append was never answered", stream)
		}
	}
}

// Postgres is restarted twice under load — once shut down fast, once crashed
// (immediate stop, recovered from the WAL) — while provinces save and submit
// through the workflows and clients append straight to the log. Every command
// answered with success is recorded exactly once, the read models equal a
// fresh rebuild, and `keytask audit verify` passes.
func TestDrillRestartPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("fault drill: a private Postgres cluster restarted on purpose")
	}
	c := pgtest.NewCluster(t)
	// pgtest creates the drill's database on the private cluster.
	t.Setenv("KEYTASK_TEST_DATABASE_URL", c.URL("postgres"))
	e := newEnv(t)
	e.worker()
	// The projector runs as deployed: its own process, which stops when its
	// database connection is cut and is started again by its supervisor.
	proj := e.supervised("projector")

	app := &appender{e: e, answered: map[string]string{}}
	stopAppends := make(chan struct{})
	var appends sync.WaitGroup
	for w := range 3 {
		appends.Add(1)
		go func() { defer appends.Done(); app.run(w, stopAppends) }()
	}

	// The restarts land once the log is growing, and again after it has grown
	// since the first came back.
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for _, mode := range []string{"fast", "immediate"} {
			from := e.eventCount()
			for ; from < 0; from = e.eventCount() { // the pool's connections are still being replaced
				time.Sleep(20 * time.Millisecond)
			}
			for n := from; n < from+200; n = e.eventCount() {
				if e.ctx.Err() != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Stopped fast, sessions are cut; stopped immediately, Postgres
			// crashes and recovers from the WAL at start.
			if err := c.Stop(mode); err != nil {
				t.Errorf("stop Postgres (%s): %v", mode, err)
				return
			}
			time.Sleep(500 * time.Millisecond)
			if err := c.Start(); err != nil {
				t.Errorf("restart Postgres (%s): %v", mode, err)
				return
			}
			t.Logf("Postgres restarted (%s) after %d events", mode, from+200)
		}
	}()

	// Rounds of workflow commands until both restarts are behind them, and
	// one more after.
	var rounds []string
	for done := false; !done; {
		select {
		case <-restarted:
			done = true
		default:
		}
		r := fmt.Sprintf("pg%d", len(rounds)+1)
		e.openRound(r)
		e.roundLoad(r)
		rounds = append(rounds, r)
		if e.ctx.Err() != nil {
			t.Fatal("the drill ran out of time")
		}
	}
	close(stopAppends)
	appends.Wait()
	if len(rounds) < 2 {
		t.Errorf("only %d rounds of commands ran: the restarts did not land under load", len(rounds))
	}
	t.Logf("%d rounds of commands, %d direct appends (%d answered only after a retry)", len(rounds), len(app.answered), app.retried)

	e.wantRoundEvents(rounds...)
	app.check()
	// The supervised projector catches up; then this process's projector
	// takes over from its checkpoints to settle.
	if err := e.waitCaughtUp(); err != nil {
		t.Errorf("the supervised projector did not catch up: %v\n%s", err, proj.output())
	}
	if n := proj.stop(); n > 0 {
		t.Logf("the projector process stopped %d times and was started again", n)
	}
	e.noPoison()
	e.settle(e.projector(false))

	// The command an operator runs, against the restarted cluster.
	verify := exec.Command(binary, "audit", "verify")
	verify.Env = append(os.Environ(), "KEYTASK_DATABASE_URL="+e.d.URL, "KEYTASK_LOG_KEY="+hex.EncodeToString(e.key), "KEYTASK_DATA_DIR="+t.TempDir())
	out, err := verify.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK:") {
		t.Errorf("keytask audit verify: %v\n%s", err, out)
	}
}

// noPoison checks that no event was parked in the projector's poison queue:
// an outage is not the event's fault, and a parked event is one a read model
// skipped.
func (e *env) noPoison() {
	e.t.Helper()
	var n int64
	err := e.d.Pool.QueryRow(e.ctx, `SELECT count(*) FROM "watermill_`+projections.PoisonTopic+`"`).Scan(&n)
	if err != nil {
		e.t.Fatalf("read the poison queue: %v", err)
	}
	if n > 0 {
		rows, _ := e.d.Pool.Query(e.ctx, `SELECT metadata::text FROM "watermill_`+projections.PoisonTopic+`" LIMIT 5`)
		for rows != nil && rows.Next() {
			var md string
			_ = rows.Scan(&md)
			e.t.Logf("parked: %s", md)
		}
		e.t.Errorf("%d messages parked in the poison queue during the outage", n)
	}
}

// waitCaughtUp waits until every projection's checkpoint reaches the newest
// event, as the projector of another process sees them.
func (e *env) waitCaughtUp() error {
	pr, err := projections.NewProjector(e.d.Pool, e.store, prometheus.NewRegistry(), quiet, projections.All()...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	return pr.WaitCaughtUp(ctx)
}

// supervisedProcess is a keytask command that is started again whenever it
// exits, as the deployment's restart policy does.
type supervisedProcess struct {
	mu       sync.Mutex
	cmd      *exec.Cmd
	stopping bool
	restarts int
	logs     strings.Builder
	done     chan struct{}
}

func (e *env) supervised(args ...string) *supervisedProcess {
	p := &supervisedProcess{done: make(chan struct{})}
	env := append(os.Environ(), "KEYTASK_DATABASE_URL="+e.d.URL, "KEYTASK_TEMPORAL_ADDRESS="+e.addr,
		"KEYTASK_LOG_KEY="+hex.EncodeToString(e.key), "KEYTASK_DATA_DIR="+e.t.TempDir())
	start := func() (*exec.Cmd, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = p, p
		return cmd, cmd.Start()
	}
	cmd, err := start()
	if err != nil {
		e.t.Fatal(err)
	}
	p.cmd = cmd
	go func() {
		defer close(p.done)
		for {
			_ = cmd.Wait()
			p.mu.Lock()
			if p.stopping {
				p.mu.Unlock()
				return
			}
			p.restarts++
			p.mu.Unlock()
			time.Sleep(time.Second) // the restart policy's back-off
			p.mu.Lock()
			if p.stopping {
				p.mu.Unlock()
				return
			}
			if cmd, err = start(); err != nil {
				p.mu.Unlock()
				return
			}
			p.cmd = cmd
			p.mu.Unlock()
		}
	}()
	e.t.Cleanup(func() { p.stop() })
	return p
}

func (p *supervisedProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *supervisedProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop ends the process for good and returns how often it had been restarted.
func (p *supervisedProcess) stop() int {
	p.mu.Lock()
	if !p.stopping {
		p.stopping = true
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	p.mu.Unlock()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}
