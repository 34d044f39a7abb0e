package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"keytask/events"
)

// PoisonTopic is the Watermill topic (table watermill_projection_poison) where the
// projector parks events a projection could not apply after its retries. Its
// metadata says which handler failed and why.
const PoisonTopic = "projection_poison"

// ConsumerGroup is the Watermill consumer group of a projection: each projection
// has its own, so one that falls behind holds no other back.
func ConsumerGroup(name string) string { return "projection_" + name }

// Tuning of the live path. Short intervals keep read models fresh within a
// fraction of a second; the retries absorb transient errors such as a
// serialisation failure, not bugs, which go to the poison topic.
const (
	pollInterval   = 100 * time.Millisecond
	resendInterval = 100 * time.Millisecond
	lagInterval    = time.Second
	caughtUpPoll   = 50 * time.Millisecond
	maxRetries     = 3
)

// Projector keeps read models up to date: it consumes the events topic with one
// Watermill handler per projection. A message brings its projection up to the
// event it announces, applying the events after the checkpoint in batches, each
// in a transaction that also moves the checkpoint (see applyThrough).
type Projector struct {
	pool        *pgxpool.Pool
	store       *events.Store
	reg         prometheus.Registerer
	logger      *slog.Logger
	projections []Projection
	names       []string
	extra       []message.HandlerMiddleware
	running     atomic.Bool
	// stop ends a Run early with its cause; Run sets it before any handler starts.
	stop context.CancelCauseFunc

	lagEvents  *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	poisoned   *prometheus.CounterVec
}

// NewProjector returns a projector of ps over pool, which must act as the writer
// role. It sets up the projections' tables and checkpoints (see Setup) and
// measures their lag once, so the lag metrics are right before Run starts. A nil
// reg means no metrics are exported; a nil logger means slog.Default().
func NewProjector(pool *pgxpool.Pool, store *events.Store, reg prometheus.Registerer, logger *slog.Logger, ps ...Projection) (*Projector, error) {
	if pool == nil || store == nil {
		return nil, errors.New("new projector: pool and store are required")
	}
	if len(ps) == 0 {
		return nil, errors.New("new projector: no projections")
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range ps {
		n := p.Name()
		if n == "" || seen[n] {
			return nil, fmt.Errorf("new projector: projection name %q is empty or repeated", n)
		}
		seen[n] = true
		names = append(names, n)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if reg == nil {
		// Watermill's metrics builder panics on a nil registerer; a private
		// registry keeps one code path and exports nothing.
		reg = prometheus.NewRegistry()
	}
	pr := &Projector{
		pool: pool, store: store, reg: reg, logger: logger, projections: ps, names: names,
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keytask_projection_lag_events",
			Help: "Committed events the projection has not applied yet.",
		}, []string{"projection"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keytask_projection_lag_seconds",
			Help: "Age of the oldest committed event the projection has not applied yet; 0 when caught up.",
		}, []string{"projection"}),
		poisoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keytask_projection_poisoned_total",
			Help: "Events a projection could not apply and parked in the poison topic.",
		}, []string{"projection"}),
	}
	var err error
	if pr.lagEvents, err = register(reg, pr.lagEvents); err != nil {
		return nil, err
	}
	if pr.lagSeconds, err = register(reg, pr.lagSeconds); err != nil {
		return nil, err
	}
	if pr.poisoned, err = register(reg, pr.poisoned); err != nil {
		return nil, err
	}
	// Born at zero, so that increase() and the KeytaskProjectionPoisoned alert
	// see the first poisoned event of a projection.
	for _, n := range names {
		pr.poisoned.WithLabelValues(n)
	}
	// The signature has no context; bound the start-up I/O instead.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Setup(ctx, pool, ps...); err != nil {
		return nil, err
	}
	if err := pr.updateLag(ctx, pool); err != nil {
		return nil, err
	}
	return pr, nil
}

// register registers c, or returns the collector already registered under the
// same name, so that several projectors (or a restarted one) share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("register projection metrics: %w", err)
	}
	return c, nil
}

// Names returns the names of the projector's projections.
func (pr *Projector) Names() []string { return append([]string(nil), pr.names...) }

// AddHandlerMiddleware adds middleware innermost, right around each projection's
// handler, below Recoverer. Call it before Run. Tests use it to deliver every
// message twice (middleware.Duplicator).
func (pr *Projector) AddHandlerMiddleware(m ...message.HandlerMiddleware) {
	pr.extra = append(pr.extra, m...)
}

// Run consumes events until ctx ends, then stops the handlers (waiting for the
// messages in flight) and returns nil; it returns an error only if the projector
// could not start or stopped on its own. Only one Run may be active at a time.
func (pr *Projector) Run(ctx context.Context) error {
	if !pr.running.CompareAndSwap(false, true) {
		return errors.New("projector is already running")
	}
	defer pr.running.Store(false)

	// Each Watermill subscriber keeps a transaction (and its connection) open
	// while its handler, on a second connection, applies the message. A pool too
	// small for both deadlocks until the ack deadline; the projector therefore
	// uses its own connections, configured like the caller's pool.
	cfg := pr.pool.Config()
	if need := int32(2*len(pr.projections) + 2); cfg.MaxConns < need {
		cfg.MaxConns = need
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer pool.Close()

	// Watermill logs every subscriber start and stop at Info; keep those at Debug.
	wlog := watermill.NewSlogLoggerWithLevelMapping(pr.logger.With("component", "watermill"),
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, wlog)
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	metrics.NewPrometheusMetricsBuilder(pr.reg, "keytask", "projector").AddPrometheusRouterMetrics(router)

	poisonPub, err := wsql.NewPublisher(wsql.BeginnerFromPgx(pool), wsql.PublisherConfig{
		SchemaAdapter:        wsql.DefaultPostgreSQLSchema{},
		AutoInitializeSchema: true,
	}, wlog)
	if err != nil {
		return fmt.Errorf("projector: poison publisher: %w", err)
	}
	defer poisonPub.Close()
	// A cancelled or timed-out context is not the event's fault, nor is a read
	// model swapped to a schema version this process does not apply: such a
	// message is nacked and redelivered, never parked (parking it would skip
	// it for good).
	poison, err := middleware.PoisonQueueWithFilter(poisonPub, PoisonTopic, func(err error) bool {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrSchemaVersion)
	})
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	retry := middleware.Retry{
		MaxRetries:          maxRetries,
		InitialInterval:     20 * time.Millisecond,
		MaxInterval:         time.Second,
		Multiplier:          2,
		ResetContextOnRetry: true,
		Logger:              wlog,
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr.stop = cancel
	versions, err := schemaVersions(ctx, pool, pr.names)
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	addHandler := func(p Projection) error {
		sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
			ConsumerGroup:  ConsumerGroup(p.Name()),
			PollInterval:   pollInterval,
			ResendInterval: resendInterval,
			SchemaAdapter:  wsql.DefaultPostgreSQLSchema{},
			OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{},
			// The events topic's tables come from the migration; the writer
			// role may not alter them.
			InitializeSchema: false,
		}, wlog)
		if err != nil {
			return fmt.Errorf("projector: subscriber of %s: %w", p.Name(), err)
		}
		h := router.AddConsumerHandler(ConsumerGroup(p.Name()), events.Topic, sub, pr.handler(pool, p))
		// Outermost first. PoisonQueue must wrap Retry, or the first failure
		// would be parked without a retry; Recoverer turns a panic into an error
		// both of them see.
		h.AddMiddleware(pr.afterPoison(pool, p.Name()), poison, retry.Middleware, middleware.Recoverer)
		if len(pr.extra) > 0 {
			h.AddMiddleware(pr.extra...)
		}
		return nil
	}
	// A read model of another schema version is rebuilt first; it starts
	// consuming once its new version is in place.
	var pending []Projection
	for _, p := range pr.projections {
		if versions[p.Name()] != p.SchemaVersion() {
			pending = append(pending, p)
			continue
		}
		if err := addHandler(p); err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	if len(pending) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pr.upgrade(runCtx, router, pool, pending, addHandler); err != nil && runCtx.Err() == nil {
				cancel(err)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-runCtx.Done()
		if err := router.Close(); err != nil {
			pr.logger.Error("projector: close router", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		pr.reportLag(runCtx, pool)
	}()

	pr.logger.Info("projector started", "projections", pr.names)
	err = router.Run(runCtx)
	cancel(nil)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	if cause := context.Cause(runCtx); ctx.Err() == nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("projector: %w", cause)
	}
	if ctx.Err() == nil {
		return errors.New("projector: all handlers stopped")
	}
	pr.logger.Info("projector stopped")
	return nil
}

// upgrade rebuilds each projection of ps, whose live read model has another
// schema version, into its new version beside the old (see Rebuild), then
// starts its handler. If another process is rebuilding it, Rebuild waits for
// that one and builds nothing twice: a model already at the version is left
// as it is.
func (pr *Projector) upgrade(ctx context.Context, router *message.Router, pool *pgxpool.Pool, ps []Projection, addHandler func(Projection) error) error {
	select {
	case <-router.Running():
	case <-ctx.Done():
		return nil
	}
	for _, p := range ps {
		pr.logger.Info("rebuilding a read model at its new schema version; the old one serves until the swap", "projection", p.Name(), "schema_version", p.SchemaVersion())
		start := time.Now()
		if err := rebuildUnlessAt(ctx, pool, pr.store, p); err != nil {
			return err
		}
		pr.logger.Info("read model at its new schema version", "projection", p.Name(), "schema_version", p.SchemaVersion(), "took", time.Since(start).Round(time.Millisecond))
		if err := addHandler(p); err != nil {
			return err
		}
		if err := router.RunHandlers(ctx); err != nil {
			return err
		}
	}
	return nil
}

// handler applies one message. Its error goes back through Retry and PoisonQueue,
// so it must never be swallowed.
func (pr *Projector) handler(pool *pgxpool.Pool, p Projection) message.NoPublishHandlerFunc {
	st := &live{}
	return func(msg *message.Message) error {
		ctx := msg.Context()
		n, err := decodeNotice(msg)
		if err != nil {
			return err
		}
		applied, err := applyThrough(ctx, pool, pr.store, p, st, n)
		if errors.Is(err, ErrSchemaVersion) {
			// A newer release swapped this read model to its shape: this
			// process is the old release and must make way for the new one.
			pr.logger.Error("a read model has a schema version this process does not apply; stopping", "projection", p.Name(), "err", err)
			pr.stop(err)
		}
		if err != nil {
			err = fmt.Errorf("projection %s: apply %s %s (stream %s): %w",
				p.Name(), msg.Metadata.Get("type"), n.ID, msg.Metadata.Get("stream_id"), err)
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				// Let the poison filter see that the context, not the event, failed.
				err = fmt.Errorf("%w (%w)", err, ctxErr)
			}
			return err
		}
		if !applied {
			pr.logger.Debug("projection had applied the event already", "projection", p.Name(), "event_id", n.ID)
		}
		return nil
	}
}

// decodeNotice reads a message's payload: the event's id and order (the store
// publishes a Notice, not the event, to keep appends small).
func decodeNotice(msg *message.Message) (events.Notice, error) {
	var n events.Notice
	if err := json.Unmarshal(msg.Payload, &n); err != nil {
		return n, fmt.Errorf("decode message %s: %w", msg.UUID, err)
	}
	return n, nil
}

// afterPoison sits outside PoisonQueue. When a message was parked, it counts and
// logs it and moves the checkpoint past the event (see skipPast).
func (pr *Projector) afterPoison(pool *pgxpool.Pool, name string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			// A nacked message is redelivered as a copy with its metadata; start clean.
			delete(msg.Metadata, middleware.ReasonForPoisonedKey)
			out, err := h(msg)
			reason := msg.Metadata.Get(middleware.ReasonForPoisonedKey)
			if err != nil || reason == "" {
				return out, err
			}
			pr.poisoned.WithLabelValues(name).Inc()
			pr.logger.Error("projection could not apply an event and parked it in the poison topic; fix the projection and rebuild it",
				"projection", name, "message_uuid", msg.UUID, "topic", PoisonTopic, "reason", reason)
			n, derr := decodeNotice(msg)
			if derr != nil {
				return out, nil // undecodable: there is no order to skip past
			}
			return out, skipPast(msg.Context(), pool, name, n.Order)
		}
	}
}

// reportLag updates the lag metrics every lagInterval until ctx ends.
func (pr *Projector) reportLag(ctx context.Context, pool *pgxpool.Pool) {
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := pr.updateLag(ctx, pool); err != nil && ctx.Err() == nil {
			pr.logger.Warn("projector: measure lag", "err", err)
		}
	}
}

func (pr *Projector) updateLag(ctx context.Context, q Querier) error {
	sts, err := ReadStatus(ctx, q, pr.names...)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, s := range sts {
		pr.lagEvents.WithLabelValues(s.Name).Set(float64(s.LagEvents))
		age := 0.0
		if !s.OldestUnapplied.IsZero() {
			age = max(now.Sub(s.OldestUnapplied).Seconds(), 0)
		}
		pr.lagSeconds.WithLabelValues(s.Name).Set(age)
	}
	return nil
}

// WaitCaughtUp returns when every projection's checkpoint has reached the newest
// event committed when it was called, or with ctx's error. Poisoned events count
// as reached. The projector must be running (here or in another process).
func (pr *Projector) WaitCaughtUp(ctx context.Context) error {
	return waitCaughtUp(ctx, pr.pool, pr.names)
}

// WaitCaughtUp returns when the checkpoints of the named projections have
// reached the newest event committed when it was called, or with ctx's
// error: what a writer waits for before telling its client that what it
// wrote can be read. The projector may run in another process.
func WaitCaughtUp(ctx context.Context, pool *pgxpool.Pool, names []string) error {
	return waitCaughtUp(ctx, pool, names)
}

func waitCaughtUp(ctx context.Context, pool *pgxpool.Pool, names []string) error {
	target, ok, err := newestEvent(ctx, pool)
	if err != nil || !ok {
		return err
	}
	t := time.NewTicker(caughtUpPoll)
	defer t.Stop()
	for {
		var reached int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM projection_checkpoints
			WHERE name = ANY($1) AND (tx_id, seq) >= ($2::text::xid8, $3)`,
			names, strconv.FormatUint(target.TxID, 10), target.Seq).Scan(&reached); err != nil {
			return fmt.Errorf("wait for projections: %w", err)
		}
		if reached == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for projections: %w", ctx.Err())
		case <-t.C:
		}
	}
}

type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// newestEvent returns the order of the newest committed event (ok is false for
// an empty log). Unlike ReadCommitted it does not stop below open transactions:
// it is the point that consumers are going to reach.
func newestEvent(ctx context.Context, q rowQuerier) (events.Order, bool, error) {
	var o events.Order
	var txText string
	// The sort names the table's column (e.tx_id): an unqualified tx_id would
	// mean the output column tx_id::text, sorted as text, where '999' comes
	// after '1000' and an older event passes for the newest.
	err := q.QueryRow(ctx, `SELECT e.tx_id::text AS tx_text, e.seq FROM events e
		ORDER BY e.tx_id DESC, e.seq DESC LIMIT 1`).Scan(&txText, &o.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("read newest event: %w", err)
	}
	o.TxID, err = strconv.ParseUint(txText, 10, 64)
	return o, err == nil, err
}
