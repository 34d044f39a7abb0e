package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"keytask/activities"
	"keytask/api"
	"keytask/config"
	"keytask/db"
	"keytask/domain/calendar"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/metrics"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

// platform holds what every long-running command shares: one pool, one store,
// one metrics registry and, where needed, one Temporal client.
type platform struct {
	cfg   config.Config
	log   *slog.Logger
	reg   *prometheus.Registry
	pool  *pgxpool.Pool
	store *events.Store
	tc    client.Client
	// codec seals the Temporal payloads of tc and its workers (nil without a
	// payload key); serve's codec endpoint opens them for the ministry.
	codec *temporalx.Codec
	// cal is the holiday calendar public notices are counted on: the embedded
	// arrangements and the operator's KEYTASK_HOLIDAYS file. It is handed to
	// the worker at registration, never kept in a package variable.
	cal *calendar.Calendar
}

func newStore(pool *pgxpool.Pool, reg prometheus.Registerer, key []byte) *events.Store {
	// Reads upcast with the registry's upcasters, so even a reader of raw data
	// sees each event in its type's current shape.
	opts := []events.Option{events.WithMACKey(key), events.WithUpcasters(eventtypes.Registry.Upcasters())}
	if reg != nil {
		opts = append(opts, events.WithMetrics(reg))
	}
	s := events.NewStore(pool, opts...)
	s.CountFromZero(alertedEventTypes...)
	return s
}

// alertedEventTypes are the event types deploy/prometheus/alerts.yml counts.
var alertedEventTypes = []string{selection.TypeStageDeadlinePassed, selection.TypeStageAdvanced,
	selection.TypeStageReopened, selection.TypeStageDeadlineExtended}

func allProjections() []projections.Projection {
	return projections.All()
}

// awaitedProjections are the read models a write waits for before it
// answers (api.Config.AwaitProjections): all of them.
func awaitedProjections() []string {
	var names []string
	for _, p := range allProjections() {
		names = append(names, p.Name())
	}
	return names
}

func projectionNames() string {
	var names []string
	for _, p := range allProjections() {
		names = append(names, p.Name())
	}
	return strings.Join(names, ", ")
}

// openPlatform connects to Postgres and, when temporalAddr is not empty, to Temporal.
func openPlatform(ctx context.Context, cfg config.Config, temporalAddr string, log *slog.Logger) (*platform, error) {
	p := &platform{cfg: cfg, log: log, reg: metrics.New()}
	var err error
	// A bad holiday file stops the process before it serves anything: a worker
	// on a shorter calendar than its peers would refuse notices they accept.
	if p.cal, err = calendar.Load(cfg.Holidays); err != nil {
		return nil, err
	}
	if first, last := p.cal.Coverage(); cfg.Holidays != "" {
		log.Info("holiday calendar", "file", cfg.Holidays, "first_year", first, "last_year", last)
	}
	if p.pool, err = db.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err := p.pool.Ping(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("database %s: %w", redact(cfg.DatabaseURL), err)
	}
	var super bool
	if err := p.pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = session_user`).Scan(&super); err == nil && super {
		log.Warn("logged into Postgres as a superuser: any statement could RESET ROLE out of keytask_writer; " +
			"give KEYTASK_DATABASE_URL a login role without superuser rights (see deploy/README.md)")
	}
	key, err := loadLogKey(cfg, false)
	if err != nil {
		p.pool.Close()
		return nil, err
	}
	if key == nil {
		log.Warn("no log key (KEYTASK_LOG_KEY or the data dir's log-key): events are appended unsigned")
	}
	p.store = newStore(p.pool, p.reg, key)
	// After a logical restore into a fresh cluster, whatever this process
	// appended would sort before the restored log, out of every reader's sight.
	if err := p.store.CheckTxIDs(ctx); err != nil {
		p.pool.Close()
		return nil, err
	}
	if temporalAddr != "" {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var codecs []*temporalx.Codec
		if p.codec, err = loadPayloadCodec(cfg, false); err != nil {
			p.pool.Close()
			return nil, err
		} else if p.codec != nil {
			codecs = append(codecs, p.codec)
		} else {
			log.Warn("no payload key (KEYTASK_PAYLOAD_KEY or the data dir's payload-key): Temporal payloads, objectors' names among them, are stored in clear")
		}
		p.tc, err = temporalx.Dial(dctx, temporalAddr, cfg.TemporalNamespace, log.With("component", "temporal-client"), temporalx.NewMetricsHandler(p.reg), codecs...)
		if err != nil {
			p.pool.Close()
			return nil, fmt.Errorf("temporal at %s: %w", temporalAddr, err)
		}
		if err := temporalx.RegisterSearchAttributes(dctx, p.tc, cfg.TemporalNamespace, workflows.SearchAttributes()); err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

func (p *platform) close() {
	if p.tc != nil {
		p.tc.Close()
	}
	p.pool.Close()
}

// group runs the platform's parts until ctx ends or one fails, then stops them all.
type group struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
	stop context.CancelFunc
}

func (g *group) goRun(name string, fn func() error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
			g.once.Do(func() { g.err = fmt.Errorf("%s: %w", name, err) })
			g.stop()
		}
	}()
}

func (g *group) wait() error {
	g.wg.Wait()
	return g.err
}

func (p *platform) runSealer(ctx context.Context) error {
	p.store.RunSealer(ctx, 200*time.Millisecond, func(f string, a ...any) { p.log.Warn(fmt.Sprintf(f, a...)) })
	return nil
}

func (p *platform) runWorker(ctx context.Context) error {
	w, err := newWorker(p.tc, p.cfg)
	if err != nil {
		return err
	}
	workflows.RegisterWith(w, &activities.Activities{Store: p.store}, workflows.Options{Calendar: p.cal})
	temporalx.CountFailuresFromZero(temporalx.NewMetricsHandler(p.reg), p.cfg.TemporalNamespace, temporalx.TaskQueue,
		workflows.IntentRoundWorkflowName, workflows.SelectionBatchWorkflowName, workflows.PerformanceCollectionWorkflowName)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	p.log.Info("worker polling", "task_queue", temporalx.TaskQueue)
	// Stopping while the schedule is being set up is a clean stop, not a failure.
	if err := p.ensurePerformanceSchedule(ctx); err != nil && ctx.Err() == nil {
		w.Stop()
		return err
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// newWorker is a worker on keytask's task queue that, when stopped, lets its
// running activities finish within the configured timeout: a rollout then
// completes appends and sends rather than abandoning them to a retry.
func newWorker(c client.Client, cfg config.Config) (worker.Worker, error) {
	stop, err := cfg.StopTimeout()
	if err != nil {
		return nil, err
	}
	return worker.New(c, temporalx.TaskQueue, worker.Options{WorkerStopTimeout: stop}), nil
}

func (p *platform) runProjector(ctx context.Context) error {
	pr, err := projections.NewProjector(p.pool, p.store, p.reg, p.log.With("component", "projector"), allProjections()...)
	if err != nil {
		return err
	}
	return pr.Run(ctx)
}

func (p *platform) runHTTP(ctx context.Context, ready func(context.Context) error) error {
	srv := &http.Server{
		Addr: p.cfg.HTTPAddr,
		Handler: api.New(api.Config{Pool: p.pool, Store: p.store, Registry: p.reg, Ready: ready, Temporal: p.tc, Logger: p.log.With("component", "http"),
			SecureCookies: p.cfg.SecureCookies, MetricsElsewhere: p.cfg.MetricsAddr != "",
			PayloadCodec: p.codec, CodecOrigin: "http://" + p.cfg.TemporalUIAddr, AwaitProjections: awaitedProjections()}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", p.cfg.HTTPAddr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// temporalReady checks the Temporal frontend for /readyz/commands.
func (p *platform) temporalReady(ctx context.Context) error {
	if p.tc == nil {
		return errors.New("no Temporal client")
	}
	_, err := p.tc.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the web pages, the API, /healthz, /readyz and /metrics (on KEYTASK_METRICS_ADDR when set)",
		Long:  "Serve HTTP on KEYTASK_HTTP_ADDR against an existing database and Temporal cluster. Run `keytask migrate` first.\n" + envHelp(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runParts(cmd.Context(), true, func(ctx context.Context, p *platform, g *group) {
				g.goRun("http", func() error { return p.runHTTP(ctx, p.temporalReady) })
				g.goRun("metrics", func() error { return p.runMetrics(ctx) })
				g.goRun("sealer", func() error { return p.runSealer(ctx) })
			})
		},
	}
}

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker that executes keytask's workflows and activities",
		Long:  "Poll the keytask task queue on the Temporal cluster at KEYTASK_TEMPORAL_ADDRESS. Run as many as the load needs.\n" + envHelp(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runParts(cmd.Context(), true, func(ctx context.Context, p *platform, g *group) {
				g.goRun("worker", func() error { return p.runWorker(ctx) })
				g.goRun("metrics", func() error { return p.runMetrics(ctx) })
				g.goRun("sealer", func() error { return p.runSealer(ctx) })
			})
		},
	}
}

func newProjectorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "projector",
		Short: "Build the read models from the event log through Watermill",
		Long:  "Consume the events topic and keep every read model current. Each projection has its own consumer group.\n" + envHelp(),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runParts(cmd.Context(), false, func(ctx context.Context, p *platform, g *group) {
				g.goRun("projector", func() error { return p.runProjector(ctx) })
				g.goRun("metrics", func() error { return p.runMetrics(ctx) })
				g.goRun("sealer", func() error { return p.runSealer(ctx) })
			})
		},
	}
}

func runParts(parent context.Context, withTemporal bool, start func(context.Context, *platform, *group)) error {
	cfg := config.FromEnv()
	log := newLogger()
	addr := ""
	if withTemporal {
		addr = cfg.TemporalOrDefault()
	}
	p, err := openPlatform(parent, cfg, addr, log)
	if err != nil {
		return err
	}
	defer p.close()
	ctx, stop := context.WithCancel(parent)
	defer stop()
	g := &group{stop: stop}
	start(ctx, p, g)
	return g.wait()
}
