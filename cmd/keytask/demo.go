package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/api"
	"keytask/config"
	"keytask/db"
	"keytask/demo"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// demoDatabase is the scratch database `keytask demo` recreates on every run
// when no --database-url is given.
const demoDatabase = "keytask_demo"

type demoOptions struct {
	scale       string
	databaseURL string
	httpAddr    string
	serve       bool
	workers     int
}

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole first round on synthetic data through the API, timing each phase",
		Long: `Bring up the platform in-process (an embedded in-memory Temporal server, the worker, the projector and the
HTTP server) on a scratch database, then play a whole first round through the HTTP API as its users would:
the plan batch, liaisons, an intent round that every province submits and the ministry files, and every
selection batch of the plan from recommendation through qualification, expert assignment, scoring,
ranking, public notice and objections to publication; then three yearly performance collections (2022-2024)
of the published projects, started by backfilling the yearly collection schedule, in which schools draft and
submit their reports, the ministry returns and locks some, a few are missing at the deadline (marked late,
escalated to their provinces, one submitted late), and the roll-ups are checked against the demo's own sums. Prints the progress and wall time of each phase
and of the whole round; exits non-zero on any failure.

Scales: national (32 provinces, about 2,500 schools, 6,000 applications, 1,000 experts) and small (two
provinces' worth). The data is synthetic and the same on every run.

The public notice lasts five working days; so that the round ends in minutes, the selection batches run
on a clock that goes thousands of times faster than real time (the output says how much). Everything else
runs in real time.

Without --database-url the database ` + demoDatabase + ` on the configured server (KEYTASK_DATABASE_URL) is dropped and
created afresh; a database given with --database-url must hold no events. The log is signed with the
configured log key, so ` + "`keytask audit verify`" + ` checks it afterwards.
` + envHelp(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runDemo(cmd.Context(), cmd, o)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.scale, "scale", "national", "national or small")
	f.StringVar(&o.databaseURL, "database-url", "", "an empty database to use instead of the scratch database "+demoDatabase)
	f.StringVar(&o.httpAddr, "http", "127.0.0.1:0", "where the in-process HTTP API listens (port 0 picks a free one)")
	f.BoolVar(&o.serve, "serve", false, "after the round, keep serving the API and pages until Ctrl-C")
	f.IntVar(&o.workers, "workers", 8, "how many users act at once")
	return cmd
}

func runDemo(ctx context.Context, cmd *cobra.Command, o demoOptions) (demo.Result, error) {
	out := cmd.OutOrStdout()
	sc, ok := demo.Scales[o.scale]
	if !ok {
		return demo.Result{}, fmt.Errorf("--scale: no scale %q (have: %s)", o.scale, strings.Join(slices.Sorted(maps.Keys(demo.Scales)), ", "))
	}
	data, err := demo.Generate(sc)
	if err != nil {
		return demo.Result{}, err
	}
	cfg := config.FromEnv()
	// The platform's own logs stay quiet: the demo's output is its progress.
	logLevel := new(slog.LevelVar)
	logLevel.Set(slog.LevelWarn)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	// Until the projector has built the read models the API answers errors,
	// which the demo waits out; they are not worth showing.
	httpLevel := new(slog.LevelVar)
	httpLevel.Set(slog.LevelError + 1)
	httpLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: httpLevel}))
	began := time.Now()

	fresh := o.databaseURL == ""
	if fresh {
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil {
			return demo.Result{}, fmt.Errorf("KEYTASK_DATABASE_URL: %w", err)
		}
		u.Path = "/" + demoDatabase
		o.databaseURL = u.String()
		if err := recreateDatabase(ctx, o.databaseURL); err != nil {
			return demo.Result{}, err
		}
	}
	if _, err := migrate(ctx, o.databaseURL); err != nil {
		return demo.Result{}, err
	}
	runtimeURL, err := runtimeLogin(ctx, o.databaseURL, func(f string, a ...any) { log.Warn(fmt.Sprintf(f, a...)) })
	if err != nil {
		return demo.Result{}, err
	}
	cfg.DatabaseURL, cfg.MigrateDatabaseURL = runtimeURL, o.databaseURL
	if err := requireEmptyLog(ctx, cfg.DatabaseURL); err != nil {
		return demo.Result{}, err
	}
	if _, err := loadLogKey(cfg, true); err != nil {
		return demo.Result{}, err
	}
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: log.With("component", "temporal-server")})
	if err != nil {
		return demo.Result{}, fmt.Errorf("embedded Temporal server: %w", err)
	}
	defer func() { _ = srv.Stop() }()
	cfg.TemporalNamespace = "default"
	p, err := openPlatform(ctx, cfg, srv.FrontendAddr(), log)
	if err != nil {
		return demo.Result{}, err
	}
	defer p.close()
	token, _, err := api.SeedAdmin(ctx, p.store, filepath.Join(cfg.DataDir, "demo"))
	if err != nil {
		return demo.Result{}, err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g := &group{stop: stop}
	ln, err := net.Listen("tcp", o.httpAddr)
	if err != nil {
		return demo.Result{}, fmt.Errorf("--http %s: %w", o.httpAddr, err)
	}
	// The batches' clock is chosen when they open; until then the API reads
	// the wall clock, which no batch time is compared with yet.
	var batchClock atomic.Pointer[workflows.DilatedClock]
	batchTime := func(t time.Time) time.Time {
		if c := batchClock.Load(); c != nil {
			return c.At(t)
		}
		return t
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: api.New(api.Config{Pool: p.pool, Store: p.store, Registry: p.reg,
		Ready: p.temporalReady, Temporal: p.tc, Logger: httpLog.With("component", "http"), BatchTime: batchTime}).Handler()}
	g.goRun("sealer", func() error { return p.runSealer(runCtx) })
	g.goRun("projector", func() error { return p.runProjector(runCtx) })
	g.goRun("http", func() error {
		go func() {
			<-runCtx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), 10*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx)
		}()
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	w := &demoWorker{p: p}
	defer w.stop()
	if err := w.start(nil); err != nil {
		return demo.Result{}, err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "keytask 演示：平台已在本进程内启动（%.1f 秒）\n  API      %s\n  数据库   %s\n  Temporal %s（内存）\n",
		time.Since(began).Seconds(), base, redact(cfg.DatabaseURL), srv.FrontendAddr())

	if err := waitAdmin(ctx, base, token); err != nil {
		return demo.Result{}, err
	}
	httpLevel.Set(slog.LevelWarn)
	res, runErr := demo.Run(runCtx, demo.Config{URL: base, AdminToken: token, Data: data, Out: out, Workers: o.workers,
		Calendar: p.cal,
		StartBatchClock: func(ctx context.Context, c workflows.DilatedClock) error {
			batchClock.Store(&c)
			return w.start(c)
		},
		StartCollection: func(ctx context.Context, c demo.Collection) error { return startDemoCollection(ctx, p, cfg, c) },
		IssueToken: func(ctx context.Context, userID string) (string, error) {
			return issueToolToken(ctx, p.store, userID, "演示")
		}})
	if runErr == nil {
		res.Report(out)
		fmt.Fprintf(out, "检查日志完整性：KEYTASK_DATABASE_URL='%s' keytask audit verify\n", cfg.DatabaseURL)
	}
	if runErr == nil && o.serve {
		fmt.Fprintf(out, "演示完成，继续提供服务：%s （管理员令牌 %s），按 Ctrl-C 退出\n", base, token)
		<-runCtx.Done()
	}
	// Stopping cancels the projector's and the worker's polls mid-query,
	// which they log as errors; the round is over, so they are noise.
	logLevel.Set(slog.LevelError + 1)
	httpLevel.Set(slog.LevelError + 1)
	stop()
	if err := g.wait(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return demo.Result{}, fmt.Errorf("demo round failed: %w", runErr)
	}
	return *res, nil
}

// demoWorker is the worker of the demo, started again with the selection
// batches' clock before the first batch opens. No batch workflow exists
// before then, so no history ever meets two clocks.
type demoWorker struct {
	mu sync.Mutex
	p  *platform
	w  worker.Worker
}

func (d *demoWorker) start(clock workflows.Clock) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil {
		d.w.Stop()
	}
	w := worker.New(d.p.tc, temporalx.TaskQueue, worker.Options{})
	workflows.RegisterWith(w, &activities.Activities{Store: d.p.store}, workflows.Options{Clock: clock, Calendar: d.p.cal})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	d.w = w
	return nil
}

func (d *demoWorker) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.w != nil {
		d.w.Stop()
		d.w = nil
	}
}

// startDemoCollection starts a past year's performance collection as an
// operator would after installing keytask late: the yearly schedule is
// ensured, then backfilled for the year. A backfilled run keeps the year's
// nominal start, so the schedule's deadline is set to reach c.Deadline from
// it; the workflow itself applies its rules to that deadline unchanged.
func startDemoCollection(ctx context.Context, p *platform, cfg config.Config, c demo.Collection) error {
	at, err := cfg.CollectionSchedule()
	if err != nil {
		return err
	}
	if at.Off {
		// The demo collects its years whatever the deployment's setting.
		at.Month, at.Day, at.Hour, at.Minute = 12, 1, 9, 0
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return err
	}
	nominal := time.Date(c.Year, time.Month(at.Month), at.Day, at.Hour, at.Minute, 0, 0, shanghai)
	s := workflows.PerformanceSchedule{Month: at.Month, Day: at.Day, Hour: at.Hour, Minute: at.Minute,
		DeadlineAfter: c.Deadline.Sub(nominal), Reminders: []time.Duration{c.RemindBefore}, CloseAfter: c.CloseAfter,
		TaskQueue: temporalx.TaskQueue}
	if s.DeadlineAfter <= c.RemindBefore {
		return fmt.Errorf("collection %d: deadline %s is not after its nominal start %s", c.Year, c.Deadline, nominal)
	}
	if err := workflows.EnsurePerformanceSchedule(ctx, p.tc, s); err != nil {
		return err
	}
	return workflows.BackfillPerformance(ctx, p.tc, s, c.Year)
}

// recreateDatabase drops and creates the scratch database.
func recreateDatabase(ctx context.Context, u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(p.Path, "/")
	c, err := pgx.Connect(ctx, adminURL(u))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(adminURL(u)), err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return createDatabase(ctx, u)
}

// waitAdmin waits until the read models are built and accept the administrator's token.
func waitAdmin(ctx context.Context, base, token string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/me", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the API did not accept the administrator's token within 2 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// requireEmptyLog refuses a database whose log already holds events: the
// demo's ids would collide with them, and its figures would not be its own.
func requireEmptyLog(ctx context.Context, u string) error {
	pool, err := db.Open(ctx, u)
	if err != nil {
		return err
	}
	defer pool.Close()
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("--database-url: the database already holds %d events; the demo needs an empty one", n)
	}
	return nil
}

// issueToolToken gives a user that the demo or the benchmark registered a
// token of their own, in-process: the API hands the ministry no one else's.
func issueToolToken(ctx context.Context, store *events.Store, userID, label string) (string, error) {
	t, err := api.IssueToken(ctx, store, events.Metadata{ActorID: "system", Role: "system", CorrelationID: label}, userID,
		identity.TokenRequest{Label: label})
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", userID, err)
	}
	return t.Token, nil
}
