package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"keytask/db/pgtest"
	"keytask/events"
	"keytask/projections"
)

// testLogger keeps test output quiet unless KEYTASK_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("KEYTASK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t *testing.T, opts ...events.Option) (*pgtest.DB, *events.Store) {
	t.Helper()
	d := pgtest.New(t)
	return d, events.NewStore(d.Pool, opts...)
}

// ev builds an event with full metadata, so the timeline has something to show.
func ev(stream string, n int, typ string) events.NewEvent {
	return events.NewEvent{
		ID:   events.DeriveID(stream, fmt.Sprint(n)),
		Type: typ,
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
		Metadata: events.Metadata{
			ActorID:       fmt.Sprintf("user-%d", n%3),
			Role:          []string{"school", "province", "ministry"}[n%3],
			Organisation:  fmt.Sprintf("org-%d", n%2),
			CorrelationID: fmt.Sprintf("corr-%s-%d", stream, n),
			WorkflowID:    "wf-" + stream,
		},
	}
}

// appendEach appends n events to each stream, one append per event so that they
// land in different transactions, and returns the log as the store reads it.
func appendEach(t *testing.T, s *events.Store, streams []string, n int, typ string) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		for _, st := range streams {
			if _, err := s.Append(ctx, st, events.AnyVersion, ev(st, int(time.Now().UnixNano()), typ)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readLog returns the whole log as the store reads it. ReadCommitted never
// passes a transaction that is still open anywhere in the cluster (other
// packages' tests share the server), so it waits until it sees every event.
func readLog(t *testing.T, s *events.Store) []events.Event {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var want int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&want); err != nil {
			t.Fatal(err)
		}
		var out []events.Event
		var after events.Order
		for {
			evs, err := s.ReadCommitted(ctx, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			out = append(out, evs...)
			after = evs[len(evs)-1].Order
		}
		if len(out) == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d events: an open transaction holds the log back", len(out), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs pr until the test ends and checks that it then stops cleanly.
func start(t *testing.T, pr *projections.Projector) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
}

func waitCaughtUp(t *testing.T, pr *projections.Projector) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pr.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
}

func newProjector(t *testing.T, d *pgtest.DB, s *events.Store, reg prometheus.Registerer, ps ...projections.Projection) *projections.Projector {
	t.Helper()
	pr, err := projections.NewProjector(d.Pool, s, reg, testLogger(), ps...)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func queryInt(t *testing.T, d *pgtest.DB, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := d.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func checkpoint(t *testing.T, d *pgtest.DB, name string) projections.Status {
	t.Helper()
	sts, err := projections.ReadStatus(context.Background(), d.Pool, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 {
		t.Fatalf("status of %s: got %d rows", name, len(sts))
	}
	return sts[0]
}

// wantTimeline checks that the timeline holds exactly the events of the log.
func wantTimeline(t *testing.T, d *pgtest.DB, log []events.Event) {
	t.Helper()
	ctx := context.Background()
	byStream := map[string][]events.Event{}
	var order []string
	for _, e := range log {
		if byStream[e.StreamID] == nil {
			order = append(order, e.StreamID)
		}
		byStream[e.StreamID] = append(byStream[e.StreamID], e)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM timeline`); got != int64(len(log)) {
		t.Fatalf("timeline has %d rows, want %d", got, len(log))
	}
	for _, st := range order {
		got, err := projections.TimelineOf(ctx, d.Pool, st, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := byStream[st]
		if len(got) != len(want) {
			t.Fatalf("timeline of %s: %d entries, want %d", st, len(got), len(want))
		}
		for i, g := range got {
			w := want[i]
			m := w.Metadata
			if g.StreamID != w.StreamID || g.StreamVersion != w.StreamVersion || g.EventID != w.ID || g.EventType != w.Type ||
				g.ActorID != m.ActorID || g.Role != m.Role || g.Organisation != m.Organisation ||
				g.WorkflowID != m.WorkflowID || g.CorrelationID != m.CorrelationID || !g.RecordedAt.Equal(w.RecordedAt) {
				t.Fatalf("timeline of %s entry %d:\n got %+v\nwant %+v", st, i, g, w)
			}
		}
	}
}

func TestLive(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	streams := []string{"application-1", "application-2", "intent-11"}
	appendEach(t, s, streams, 4, "ApplicationSubmitted")
	pr := newProjector(t, d, s, nil, projections.All()...)
	start(t, pr)
	waitCaughtUp(t, pr)
	wantTimeline(t, d, readLog(t, s))

	t.Run("EventsWhileRunning", func(t *testing.T) {
		appendEach(t, s, append(streams, "batch-7"), 3, "ApplicationRecommended")
		waitCaughtUp(t, pr)
		log := readLog(t, s)
		wantTimeline(t, d, log)
		cp := checkpoint(t, d, "timeline")
		last := log[len(log)-1]
		if cp.Events != int64(len(log)) || cp.Order != last.Order || !cp.LastRecordedAt.Equal(last.RecordedAt) || cp.LagEvents != 0 {
			t.Fatalf("checkpoint %+v, want %d events up to %+v", cp, len(log), last.Order)
		}
	})

	t.Run("TimelineOfLimit", func(t *testing.T) {
		got, err := projections.TimelineOf(context.Background(), d.Pool, "application-1", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].StreamVersion != 1 || got[1].StreamVersion != 2 {
			t.Fatalf("got %+v, want versions 1 and 2", got)
		}
	})
}

// counter counts the events applied to it; a second effect of one event shows.
type counter struct{}

func (counter) Name() string       { return "counter" }
func (counter) SchemaVersion() int { return 1 }
func (counter) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS counter (n bigint NOT NULL);
		INSERT INTO counter SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM counter)`)
	return err
}
func (counter) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `UPDATE counter SET n = 0`)
	return err
}
func (counter) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `UPDATE counter SET n = n + 1`)
	return err
}
func (counter) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	var n int64
	err := tx.QueryRow(ctx, `SELECT n FROM counter`).Scan(&n)
	return fmt.Sprint(n), err
}

// Every message is delivered twice; each event must still have one effect.
func TestRedelivery(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	appendEach(t, s, []string{"a", "b"}, 5, "Scored")
	pr := newProjector(t, d, s, nil, projections.NewTimeline(), counter{})
	pr.AddHandlerMiddleware(middleware.Duplicator)
	start(t, pr)
	waitCaughtUp(t, pr)
	appendEach(t, s, []string{"c"}, 3, "Scored")
	waitCaughtUp(t, pr)

	want := int64(len(readLog(t, s)))
	if got := queryInt(t, d, `SELECT n FROM counter`); got != want {
		t.Errorf("counter applied %d times for %d events", got, want)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM timeline`); got != want {
		t.Errorf("timeline has %d rows for %d events", got, want)
	}
	for _, name := range []string{"timeline", "counter"} {
		if got := checkpoint(t, d, name).Events; got != want {
			t.Errorf("checkpoint of %s counted %d events, want %d", name, got, want)
		}
	}
	// A duplicate that got past the checkpoint would fail the timeline's plain
	// INSERT and be parked.
	if got := queryInt(t, d, `SELECT count(*) FROM watermill_projection_poison`); got != 0 {
		t.Errorf("%d messages poisoned, want none", got)
	}
}

// picky cannot apply events of type Broken.
type picky struct{}

func (picky) Name() string       { return "picky" }
func (picky) SchemaVersion() int { return 1 }
func (picky) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS picky (event_id uuid PRIMARY KEY)`)
	return err
}
func (picky) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE picky`)
	return err
}
func (picky) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if e.Type == "Broken" {
		return errors.New("picky cannot apply Broken")
	}
	_, err := tx.Exec(ctx, `INSERT INTO picky VALUES ($1)`, e.ID)
	return err
}
func (picky) Digest(ctx context.Context, tx pgx.Tx) (string, error) { return "", nil }

// clash fails only at COMMIT (a deferred unique constraint) for events of type
// Clash: the projector must see the failed commit.
type clash struct{}

func (clash) Name() string       { return "clash" }
func (clash) SchemaVersion() int { return 1 }
func (clash) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS clash (k text, CONSTRAINT clash_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)`)
	return err
}
func (clash) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE clash`)
	return err
}
func (clash) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `INSERT INTO clash VALUES ($1)`, e.ID.String())
	if err == nil && e.Type == "Clash" {
		_, err = tx.Exec(ctx, `INSERT INTO clash VALUES ($1)`, e.ID.String())
	}
	return err
}
func (clash) Digest(ctx context.Context, tx pgx.Tx) (string, error) { return "", nil }

func poisoned(t *testing.T, d *pgtest.DB) map[string]map[string]string {
	t.Helper()
	rows, err := d.Pool.Query(context.Background(), `SELECT uuid, metadata::text FROM watermill_projection_poison`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for rows.Next() {
		var id, meta string
		if err := rows.Scan(&id, &meta); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal([]byte(meta), &m); err != nil {
			t.Fatal(err)
		}
		out[id+" "+m[middleware.PoisonedHandlerKey]] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPoison(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	pr := newProjector(t, d, s, reg, projections.NewTimeline(), picky{}, clash{})
	start(t, pr)

	// A broken event in the middle of the log and one at its end, which nothing
	// follows that would move the checkpoint past it.
	appendEach(t, s, []string{"a"}, 2, "Fine")
	badMiddle, _ := s.Append(ctx, "a", events.AnyVersion, ev("a", 100, "Broken"))
	clashMiddle, _ := s.Append(ctx, "a", events.AnyVersion, ev("a", 101, "Clash"))
	appendEach(t, s, []string{"a", "b"}, 2, "Fine")
	badLast, err := s.Append(ctx, "b", events.AnyVersion, ev("b", 102, "Broken"))
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, pr)

	log := readLog(t, s)
	wantTimeline(t, d, log)
	if got, want := queryInt(t, d, `SELECT count(*) FROM picky`), int64(len(log)-2); got != want {
		t.Errorf("picky applied %d events, want %d (all but the broken ones)", got, want)
	}
	if got, want := queryInt(t, d, `SELECT count(*) FROM clash`), int64(len(log)-1); got != want {
		t.Errorf("clash holds %d rows, want %d (all but the clashing event)", got, want)
	}
	p := poisoned(t, d)
	for _, want := range []string{
		badMiddle[0].ID.String() + " projection_picky",
		badLast[0].ID.String() + " projection_picky",
		clashMiddle[0].ID.String() + " projection_clash",
	} {
		m, ok := p[want]
		if !ok {
			t.Errorf("poison topic lacks %s; it holds %v", want, p)
			continue
		}
		if !strings.Contains(m[middleware.ReasonForPoisonedKey], "picky cannot apply Broken") &&
			!strings.Contains(m[middleware.ReasonForPoisonedKey], "clash_k") {
			t.Errorf("poison reason %q does not say what failed", m[middleware.ReasonForPoisonedKey])
		}
	}
	if len(p) != 3 {
		t.Errorf("poison topic holds %d messages, want 3: %v", len(p), p)
	}
	if got := counterValue(t, reg, "keytask_projection_poisoned_total", "picky"); got != 2 {
		t.Errorf("poisoned_total{picky} = %v, want 2", got)
	}
	// Rebuild retries the poisoned events and reports the failure.
	if _, err := projections.Rebuild(ctx, d.Pool, s, picky{}, nil); err == nil || !strings.Contains(err.Error(), "Broken") {
		t.Errorf("rebuild over a broken event: err = %v, want it named", err)
	}
}

func TestRebuild(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	tl := projections.NewTimeline()
	appendEach(t, s, []string{"x", "y", "z"}, 20, "Reviewed")
	pr := newProjector(t, d, s, nil, tl)
	start(t, pr)
	waitCaughtUp(t, pr)
	live, err := projections.Digest(ctx, d.Pool, tl)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(len(readLog(t, s)))

	t.Run("SameAsLive", func(t *testing.T) {
		var lastDone, lastTotal int64
		rebuilt, err := projections.Rebuild(ctx, d.Pool, s, tl, func(done, total int64) { lastDone, lastTotal = done, total })
		if err != nil {
			t.Fatal(err)
		}
		if rebuilt != live {
			t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
		}
		if lastDone != total || lastTotal != total {
			t.Errorf("progress ended at %d/%d, want %d/%d", lastDone, lastTotal, total, total)
		}
		if cp := checkpoint(t, d, "timeline"); cp.Events != total || cp.LagEvents != 0 {
			t.Errorf("checkpoint after rebuild %+v, want %d events and no lag", cp, total)
		}
	})

	t.Run("ProgressBar", func(t *testing.T) {
		var out strings.Builder
		if _, err := projections.Rebuild(ctx, d.Pool, s, tl, projections.ProgressBar(&out, "timeline")); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); !strings.Contains(got, "rebuild timeline") || !strings.Contains(got, "100%") {
			t.Errorf("progress bar drew %q, want it named and finished", got)
		}
	})

	t.Run("RestoresDroppedRows", func(t *testing.T) {
		if _, err := d.Pool.Exec(ctx, `DELETE FROM timeline WHERE stream_id = 'y'`); err != nil {
			t.Fatal(err)
		}
		if damaged, _ := projections.Digest(ctx, d.Pool, tl); damaged == live {
			t.Fatal("digest did not notice dropped rows")
		}
		rebuilt, err := projections.Rebuild(ctx, d.Pool, s, tl, nil)
		if err != nil {
			t.Fatal(err)
		}
		now, _ := projections.Digest(ctx, d.Pool, tl)
		if rebuilt != live || now != live {
			t.Fatalf("after rebuild digest %s (committed %s), want %s", rebuilt, now, live)
		}
	})

	// The running projector goes on from the rebuilt checkpoint: no event twice
	// (the timeline's plain INSERT would fail), none missed.
	t.Run("LiveContinuesAfterRebuild", func(t *testing.T) {
		appendEach(t, s, []string{"x", "w"}, 3, "Reviewed")
		waitCaughtUp(t, pr)
		wantTimeline(t, d, readLog(t, s))
		after, _ := projections.Digest(ctx, d.Pool, tl)
		rebuilt, err := projections.Rebuild(ctx, d.Pool, s, tl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rebuilt != after {
			t.Fatalf("rebuilt %s, live %s", rebuilt, after)
		}
		if got := queryInt(t, d, `SELECT count(*) FROM watermill_projection_poison`); got != 0 {
			t.Errorf("%d messages poisoned, want none", got)
		}
	})
}

func gather(t *testing.T, reg *prometheus.Registry, name, projection string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projection" && l.GetValue() == projection {
					switch {
					case m.GetGauge() != nil:
						return m.GetGauge().GetValue(), true
					case m.GetCounter() != nil:
						return m.GetCounter().GetValue(), true
					}
				}
			}
		}
	}
	return 0, false
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, projection string) float64 {
	t.Helper()
	v, _ := gather(t, reg, name, projection)
	return v
}

func TestLagMetrics(t *testing.T) {
	t.Parallel()
	// The events were recorded an hour ago.
	d, s := newEnv(t, events.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	appendEach(t, s, []string{"p", "q"}, 6, "Declared")
	n := float64(len(readLog(t, s)))
	reg := prometheus.NewRegistry()
	pr := newProjector(t, d, s, reg, projections.NewTimeline())

	if got, ok := gather(t, reg, "keytask_projection_lag_events", "timeline"); !ok || got != n {
		t.Fatalf("lag_events before running = %v (present %v), want %v", got, ok, n)
	}
	if got, _ := gather(t, reg, "keytask_projection_lag_seconds", "timeline"); got < 3500 || got > 3700 {
		t.Fatalf("lag_seconds before running = %v, want about 3600", got)
	}

	start(t, pr)
	waitCaughtUp(t, pr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev, _ := gather(t, reg, "keytask_projection_lag_events", "timeline")
		sec, _ := gather(t, reg, "keytask_projection_lag_seconds", "timeline")
		if ev == 0 && sec == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag after catching up: %v events, %v seconds; want 0 and 0", ev, sec)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Watermill's router metrics are on the same registry.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if !containsPrefix(names, "keytask_projector_") {
		t.Errorf("no Watermill router metrics registered: %v", names)
	}
}

func containsPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// bulkLog appends perAppend×appends events for the rebuild tests.
func bulkLog(tb testing.TB, s *events.Store, perAppend, appends int) {
	tb.Helper()
	ctx := context.Background()
	for a := 0; a < appends; a++ {
		evs := make([]events.NewEvent, perAppend)
		stream := fmt.Sprintf("bulk-%d", a)
		for i := range evs {
			evs[i] = ev(stream, i, "Bulk")
			evs[i].ID = uuid.New()
		}
		if _, err := s.Append(ctx, stream, events.NoStream, evs...); err != nil {
			tb.Fatal(err)
		}
	}
}

// A large log replays completely, in batches.
func TestRebuildLargeLog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("appends 100,000 events")
	}
	d, s := newEnv(t)
	ctx := context.Background()
	const perAppend, appends = 1000, 100
	bulkLog(t, s, perAppend, appends)
	tl := projections.NewTimeline()
	if err := projections.Setup(ctx, d.Pool, tl); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, d.Pool, s, tl, nil); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM timeline`); got != perAppend*appends {
		t.Fatalf("timeline has %d rows, want %d", got, perAppend*appends)
	}
}

// BenchmarkRebuild reports the timeline's rebuild in events per second beside an
// anchor measured in the same run: the same rows copied by one INSERT … SELECT
// inside Postgres, the fastest a rebuild could possibly be; "ratio" is
// rebuild/anchor throughput.
func BenchmarkRebuild(b *testing.B) {
	d := pgtest.New(b)
	s := events.NewStore(d.Pool)
	ctx := context.Background()
	const perAppend, appends = 1000, 50
	bulkLog(b, s, perAppend, appends)
	tl := projections.NewTimeline()
	if err := projections.Setup(ctx, d.Pool, tl); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE anchor (LIKE timeline INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	var rebuild, anchor time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		began := time.Now()
		if _, err := projections.Rebuild(ctx, d.Pool, s, tl, nil); err != nil {
			b.Fatal(err)
		}
		rebuild += time.Since(began)
		began = time.Now()
		if _, err := d.Pool.Exec(ctx, `TRUNCATE anchor; INSERT INTO anchor SELECT e.stream_id, e.stream_version, e.id, e.type,
			coalesce(e.metadata->>'actor_id', ''), coalesce(e.metadata->>'role', ''), coalesce(e.metadata->>'organisation', ''),
			coalesce(e.metadata->>'workflow_id', ''), coalesce(e.metadata->>'correlation_id', ''), e.recorded_at FROM events e`); err != nil {
			b.Fatal(err)
		}
		anchor += time.Since(began)
	}
	b.StopTimer()
	n := float64(perAppend * appends * b.N)
	b.ReportMetric(n/rebuild.Seconds(), "events/s")
	b.ReportMetric(n/anchor.Seconds(), "anchor-events/s")
	b.ReportMetric(anchor.Seconds()/rebuild.Seconds(), "ratio")
}

// A transaction that is still open holds the log back from every reader. Rebuild
// waits for it instead of stopping short of events committed before it began.
func TestRebuildWaitsForOpenTransaction(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	tl := projections.NewTimeline()
	open, err := d.Owner.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx) //nolint:errcheck
	if _, err := open.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	appendEach(t, s, []string{"late"}, 3, "Noted")

	type result struct {
		digest string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		dg, err := projections.Rebuild(ctx, d.Pool, s, tl, nil)
		done <- result{dg, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("rebuild finished while an older transaction was open: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := queryInt(t, d, `SELECT count(*) FROM timeline`); got != 3 {
		t.Fatalf("rebuilt timeline has %d rows, want 3", got)
	}
}

// txs records the transaction each event was applied in.
type txs struct{}

func (txs) Name() string       { return "txs" }
func (txs) SchemaVersion() int { return 1 }
func (txs) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS txs (event_id uuid PRIMARY KEY, xid xid8 NOT NULL)`)
	return err
}
func (txs) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE txs`)
	return err
}
func (txs) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `INSERT INTO txs VALUES ($1, pg_current_xact_id())`, e.ID)
	return err
}
func (txs) Digest(ctx context.Context, tx pgx.Tx) (string, error) { return "", nil }

// A projector started behind a backlog applies it in batches, one transaction
// for many events, and a bad event inside a batch still fails only its own
// message: the events around it are applied and only it is parked.
func TestBacklogAppliedInBatches(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	appendEach(t, s, []string{"a", "b"}, 150, "Fine")
	badMiddle, err := s.Append(ctx, "a", events.AnyVersion, ev("a", 100, "Broken"))
	if err != nil {
		t.Fatal(err)
	}
	appendEach(t, s, []string{"a", "b"}, 100, "Fine")
	clashMiddle, err := s.Append(ctx, "b", events.AnyVersion, ev("b", 101, "Clash"))
	if err != nil {
		t.Fatal(err)
	}
	appendEach(t, s, []string{"a", "b"}, 150, "Fine")
	log := readLog(t, s)

	reg := prometheus.NewRegistry()
	pr := newProjector(t, d, s, reg, projections.NewTimeline(), picky{}, clash{}, txs{})
	pr.AddHandlerMiddleware(middleware.Duplicator)
	start(t, pr)
	waitCaughtUp(t, pr)

	wantTimeline(t, d, log)
	if got, want := queryInt(t, d, `SELECT count(*) FROM txs`), int64(len(log)); got != want {
		t.Errorf("txs applied %d events, want %d", got, want)
	}
	// One transaction per event would be len(log); batches of up to 200 need
	// about len(log)/200, plus a few short ones where delivery raced ahead.
	if got, most := queryInt(t, d, `SELECT count(DISTINCT xid) FROM txs`), int64(len(log)/20); got > most {
		t.Errorf("%d events were applied in %d transactions, want at most %d", len(log), got, most)
	}
	if got, want := queryInt(t, d, `SELECT count(*) FROM picky`), int64(len(log)-1); got != want {
		t.Errorf("picky applied %d events, want %d (all but the broken one)", got, want)
	}
	if got, want := queryInt(t, d, `SELECT count(*) FROM clash`), int64(len(log)-1); got != want {
		t.Errorf("clash holds %d rows, want %d (all but the clashing event)", got, want)
	}
	p := poisoned(t, d)
	for _, want := range []string{badMiddle[0].ID.String() + " projection_picky", clashMiddle[0].ID.String() + " projection_clash"} {
		if _, ok := p[want]; !ok {
			t.Errorf("poison topic lacks %s; it holds %v", want, p)
		}
	}
	if len(p) != 2 {
		t.Errorf("poison topic holds %d messages, want 2: %v", len(p), p)
	}
	for _, name := range []string{"timeline", "txs"} {
		if got := checkpoint(t, d, name).Events; got != int64(len(log)) {
			t.Errorf("checkpoint of %s counted %d events, want %d", name, got, len(log))
		}
	}
}
