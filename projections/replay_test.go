package projections_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/db"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

// instant is the live read models captured at one moment.
type instant struct {
	position int64
	at       time.Time
	digests  map[string]string
}

// capture seals the log, waits until the live projector has applied all of it,
// and records every live model's digest with the head position and the time.
func capture(t *testing.T, d *pgtest.DB, s *events.Store, pr *projections.Projector) instant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, pr)
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := instant{position: h.Position, digests: map[string]string{}}
	for _, p := range projections.All() {
		if in.digests[p.Name()], err = projections.Digest(ctx, d.Pool, p); err != nil {
			t.Fatal(err)
		}
	}
	in.at = time.Now()
	// Whatever is appended next is recorded strictly after the captured instant.
	time.Sleep(5 * time.Millisecond)
	return in
}

// laterEvents follows intentScenario: feedback to a province, a user, an expert
// and an application, touching five read models.
func laterEvents(t *testing.T, s *events.Store) {
	l := &intentLog{t: t, store: s, n: 10_000} // ids apart from intentScenario's
	l.ministry(intent.FormStream("2022-1", "12"), intent.TypeIntentFeedbackRecorded, intent.IntentFeedbackRecorded{RoundID: "2022-1", Province: "12", Text: "同意"})
	l.ministry("user-aud", identity.TypeUserRegistered, identity.UserRegistered{UserID: "aud", Name: "审计员", Role: identity.RoleAuditor, Organisation: "审计署"})
	l.ministry(selection.ExpertStream("wang"), selection.TypeExpertRegistered, selection.ExpertRegistered{ExpertID: "wang", Name: "王五", Expertise: map[string]int{"YZYX": 2}, Load: 4})
	l.add(selection.ApplicationStream("a9"), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: "a9", BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "13-001", Province: "13", Title: "河北"}, "u-13-001", "school", "13-001")
}

// writerConn is a connection of its own acting as the application's role, as
// the API's auditor endpoint uses.
func writerConn(t *testing.T, d *pgtest.DB) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if _, err := c.Exec(ctx, "SET ROLE "+db.WriterRole); err != nil {
		t.Fatal(err)
	}
	return c
}

func sameDigests(t *testing.T, what string, got map[string]string, want instant) {
	t.Helper()
	if len(got) != len(projections.All()) {
		t.Fatalf("%s: %d digests, want one per projection (%d)", what, len(got), len(projections.All()))
	}
	for name, dg := range want.digests {
		if got[name] != dg {
			t.Errorf("%s: %s replayed to digest %s, live was %s", what, name, got[name], dg)
		}
	}
}

// A replay as of an instant equals the live read models captured at that
// instant, for every projection, whether the instant is named by position or
// time, in a temporary or a named scratch schema; and the live models are left
// alone.
func TestReplayAsOfEqualsLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newEnv(t)
	pr := newProjector(t, d, s, nil, projections.All()...)
	start(t, pr)

	empty := capture(t, d, s, pr)
	intentScenario(t, s)
	first := capture(t, d, s, pr)
	laterEvents(t, s)
	second := capture(t, d, s, pr)
	if first.position == 0 || second.position <= first.position {
		t.Fatalf("positions %d, %d", first.position, second.position)
	}
	changed := 0
	for name := range first.digests {
		if first.digests[name] != second.digests[name] {
			changed++
		}
	}
	if changed < 3 {
		t.Fatalf("only %d read models changed between the instants; the test would prove little", changed)
	}

	for _, in := range []instant{empty, first, second} {
		pos, err := projections.ResolveAsOf(ctx, d.Pool, projections.AsOf{Time: in.at})
		if err != nil || pos != in.position {
			t.Fatalf("as of %s: position %d (%v), want %d", in.at, pos, err, in.position)
		}
	}

	// Temporary scratch, as the application's role: one replay per instant,
	// each from the start, then one that goes on from the first instant.
	for _, in := range []instant{first, empty, second} {
		sc, err := projections.NewScratch(ctx, writerConn(t, d), "", projections.All())
		if err != nil {
			t.Fatal(err)
		}
		res, err := sc.ReplayTo(ctx, s, in.position)
		if err != nil {
			t.Fatal(err)
		}
		sameDigests(t, "temporary scratch", res.Digests, in)
	}
	sc, err := projections.NewScratch(ctx, writerConn(t, d), "", projections.All())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReplayTo(ctx, s, first.position); err != nil {
		t.Fatal(err)
	}
	res, err := sc.ReplayTo(ctx, s, second.position)
	if err != nil {
		t.Fatal(err)
	}
	sameDigests(t, "incremental replay", res.Digests, second)
	if _, err := sc.ReplayTo(ctx, s, first.position); !errors.Is(err, projections.ErrAsOf) {
		t.Errorf("replaying backwards: %v", err)
	}

	// A named schema on the owner's connection stays for auditors to query.
	oc, err := d.Owner.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn := oc.Hijack()
	defer conn.Close(ctx)
	named, err := projections.NewScratch(ctx, conn, "audit_first", projections.All())
	if err != nil {
		t.Fatal(err)
	}
	res, err = named.ReplayTo(ctx, s, first.position)
	if err != nil {
		t.Fatal(err)
	}
	sameDigests(t, "named scratch", res.Digests, first)
	var n int64
	if err := d.Owner.QueryRow(ctx, `SELECT count(*) FROM audit_first.timeline`).Scan(&n); err != nil || n != first.position {
		t.Fatalf("audit_first.timeline has %d rows (%v), want %d", n, err, first.position)
	}
	// The live models are untouched by either replay.
	for _, p := range projections.All() {
		live, err := projections.Digest(ctx, d.Pool, p)
		if err != nil || live != second.digests[p.Name()] {
			t.Errorf("live %s changed after the replays: %s (%v)", p.Name(), live, err)
		}
	}

	// Bad instants and names are refused before anything is written.
	if _, err := projections.ResolveAsOf(ctx, d.Pool, projections.AsOf{Position: second.position + 1}); !errors.Is(err, projections.ErrAsOf) {
		t.Errorf("a position past the head: %v", err)
	}
	if _, err := projections.NewScratch(ctx, conn, "public", projections.All()); !errors.Is(err, projections.ErrAsOf) {
		t.Errorf("scratch schema public: %v", err)
	}
}

// The diff between two instants names the read models that changed and the
// rows each table gained and lost.
func TestReplayDiff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newEnv(t)
	pr := newProjector(t, d, s, nil, projections.All()...)
	start(t, pr)
	intentScenario(t, s)
	first := capture(t, d, s, pr)
	laterEvents(t, s)
	second := capture(t, d, s, pr)

	sc, err := projections.NewScratch(ctx, writerConn(t, d), "", projections.All())
	if err != nil {
		t.Fatal(err)
	}
	diff, err := sc.DiffPositions(ctx, s, first.position, second.position, 3)
	if err != nil {
		t.Fatal(err)
	}
	sameDigests(t, "diff from", diff.FromDigests, first)
	sameDigests(t, "diff to", diff.ToDigests, second)
	for name := range first.digests {
		if (first.digests[name] != second.digests[name]) != slices.Contains(diff.Changed, name) {
			t.Errorf("changed = %v, wrong about %s", diff.Changed, name)
		}
	}
	var timeline *projections.TableDiff
	for i, td := range diff.Tables {
		if td.Table == "timeline" {
			timeline = &diff.Tables[i]
		}
		if !slices.Contains(diff.Changed, td.Projection) {
			t.Errorf("table %s of %s differs but its digest did not change", td.Table, td.Projection)
		}
	}
	if timeline == nil || timeline.Added != second.position-first.position || timeline.Removed != 0 || len(timeline.AddedRows) != 3 {
		t.Fatalf("timeline diff %+v, want %d rows added, 3 shown", timeline, second.position-first.position)
	}
	if diff.EventsInBetween != second.position-first.position {
		t.Errorf("events in between %d", diff.EventsInBetween)
	}
}

// BenchmarkReplayAsOf reports a replay of every read model to the log's head,
// into a temporary scratch, in events per second beside an anchor measured in
// the same run: Rebuild of the timeline alone over the same log, the live
// models' own path. "ratio" is replay/anchor throughput.
func BenchmarkReplayAsOf(b *testing.B) {
	d := pgtest.New(b)
	s := events.NewStore(d.Pool)
	ctx := context.Background()
	const perAppend, appends = 1000, 20
	bulkLog(b, s, perAppend, appends)
	if err := s.SealCommitted(ctx); err != nil {
		b.Fatal(err)
	}
	head, err := s.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tl := projections.NewTimeline()
	if err := projections.Setup(ctx, d.Pool, tl); err != nil {
		b.Fatal(err)
	}
	var replay, anchor time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		began := time.Now()
		c, err := pgx.Connect(ctx, d.URL)
		if err != nil {
			b.Fatal(err)
		}
		sc, err := projections.NewScratch(ctx, c, "", projections.All())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sc.ReplayTo(ctx, s, head.Position); err != nil {
			b.Fatal(err)
		}
		c.Close(ctx)
		replay += time.Since(began)
		began = time.Now()
		if _, err := projections.Rebuild(ctx, d.Pool, s, tl, nil); err != nil {
			b.Fatal(err)
		}
		anchor += time.Since(began)
	}
	b.StopTimer()
	n := float64(head.Position) * float64(b.N)
	b.ReportMetric(n/replay.Seconds(), "events/s")
	b.ReportMetric(n/anchor.Seconds(), "anchor-events/s")
	b.ReportMetric(anchor.Seconds()/replay.Seconds(), "ratio")
}
