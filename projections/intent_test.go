package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/projections"
)

// intentLog writes intent events the way the API and the workflow do.
type intentLog struct {
	t     *testing.T
	store *events.Store
	n     int
}

func (l *intentLog) add(stream, typ string, payload any, actor, role, org string) {
	l.t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		l.t.Fatal(err)
	}
	l.n++
	if _, err := l.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("intent-test", fmt.Sprint(l.n)), Type: typ, SchemaVersion: 1, Data: b,
		Metadata: events.Metadata{ActorID: actor, Role: role, Organisation: org},
	}); err != nil {
		l.t.Fatal(err)
	}
}

func (l *intentLog) ministry(stream, typ string, payload any) {
	l.t.Helper()
	l.add(stream, typ, payload, "admin", "ministry", identity.MinistryOrganisation)
}

func (l *intentLog) province(code, stream, typ string, payload any) {
	l.t.Helper()
	l.add(stream, typ, payload, "p"+code, "province", code)
}

var testItems = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
}

// line builds a form line with its total.
func line(t *testing.T, item string, qty int64, f intent.Funds) intent.Line {
	t.Helper()
	total, err := f.Total()
	if err != nil {
		t.Fatal(err)
	}
	return intent.Line{Item: item, Undertake: qty > 0 || f != (intent.Funds{}), Quantity: qty, Funds: f, Total: total}
}

// form builds a form over testItems with its totals.
func form(t *testing.T, lines ...intent.Line) intent.Form {
	t.Helper()
	byItem := map[string]intent.Line{}
	for _, l := range lines {
		byItem[l.Item] = l
	}
	var f intent.Form
	for _, it := range testItems {
		l, ok := byItem[it.Item]
		if !ok {
			l = intent.Line{Item: it.Item}
		}
		f.Lines = append(f.Lines, l)
		var err error
		if f.Totals, err = f.Totals.Plus(l.Funds); err != nil {
			t.Fatal(err)
		}
	}
	total, err := f.Totals.Total()
	if err != nil {
		t.Fatal(err)
	}
	f.Total = total
	return f
}

// intentScenario records a round in which Beijing submits, Tianjin submits, is
// returned and resubmits, Hebei submits and is returned, Shanxi only saves a
// draft, and every other province does nothing.
func intentScenario(t *testing.T, store *events.Store) (deadline time.Time, bj, tj intent.Form) {
	l := &intentLog{t: t, store: store}
	const round = "2022-1"
	deadline = time.Date(2022, 6, 15, 10, 0, 0, 0, time.UTC)

	l.ministry(intent.PlanStream("2022-1"), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: "2022-1", Name: "第一批", Items: testItems[:2]})
	l.ministry(intent.PlanStream("2022-1"), intent.TypePlanItemsAdded, intent.PlanItemsAdded{BatchID: "2022-1", Items: testItems[2:]})
	l.ministry(intent.LiaisonDeadlineStream, intent.TypeLiaisonDeadlineSet, intent.LiaisonDeadlineSet{Deadline: time.Date(2022, 4, 27, 10, 0, 0, 0, time.UTC)})
	l.province("11", intent.LiaisonStream("11"), intent.TypeLiaisonRegistered, intent.LiaisonRegistered{Province: "11", Name: "张三", Phone: "010-84208450", Email: "a@bj.gov.cn"})
	l.province("11", intent.LiaisonStream("11"), intent.TypeLiaisonRegistered, intent.LiaisonRegistered{Province: "11", Name: "李四", Phone: "13812345678", Email: "b@bj.gov.cn"})
	l.province("14", intent.LiaisonStream("14"), intent.TypeLiaisonRegistered, intent.LiaisonRegistered{Province: "14", Name: "王五", Phone: "0351-1234567", Email: "c@sx.gov.cn"})

	l.ministry(intent.RoundStream(round), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{
		RoundID: round, BatchID: "2022-1", Items: testItems, Deadline: deadline,
		ReminderOffsets: []time.Duration{72 * time.Hour, 24 * time.Hour},
	})
	bj = form(t,
		line(t, "1", 2, intent.Funds{School: 1_234_5678, Provincial: 1}),
		line(t, "4", 0, intent.Funds{Industry: 5}))
	tjFirst := form(t, line(t, "2.1", 9, intent.Funds{Sponsor: 100_0000}))
	tj = form(t, line(t, "2.1", 10, intent.Funds{Sponsor: 120_0000, Municipal: 3}), line(t, "1", 1, intent.Funds{School: 7}))
	he := form(t, line(t, "2.1", 50, intent.Funds{School: 999_9999}))
	sx := form(t, line(t, "1", 3, intent.Funds{}))

	fs := intent.FormStream
	l.province("11", fs(round, "11"), intent.TypeIntentDraftSaved, intent.IntentDraftSaved{RoundID: round, Province: "11", Form: form(t)})
	l.province("11", fs(round, "11"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: "11", Form: bj})
	l.province("12", fs(round, "12"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: "12", Form: tjFirst})
	l.ministry(fs(round, "12"), intent.TypeIntentReturned, intent.IntentReturned{RoundID: round, Province: "12", Reason: "数量有误"})
	l.province("12", fs(round, "12"), intent.TypeIntentDraftSaved, intent.IntentDraftSaved{RoundID: round, Province: "12", Form: tj})
	l.ministry(intent.RoundStream(round), intent.TypeIntentReminderSent, intent.IntentReminderSent{RoundID: round, Province: "12", Offset: 72 * time.Hour})
	l.ministry(intent.RoundStream(round), intent.TypeIntentReminderSent, intent.IntentReminderSent{RoundID: round, Province: "13", Offset: 72 * time.Hour})
	l.province("13", fs(round, "13"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: "13", Form: he})
	l.ministry(fs(round, "13"), intent.TypeIntentReturned, intent.IntentReturned{RoundID: round, Province: "13", Reason: "请核实经费"})
	l.province("14", fs(round, "14"), intent.TypeIntentDraftSaved, intent.IntentDraftSaved{RoundID: round, Province: "14", Form: sx})
	l.ministry(intent.RoundStream(round), intent.TypeProvinceDeadlineExtended, intent.ProvinceDeadlineExtended{RoundID: round, Province: "12", Deadline: deadline.Add(48 * time.Hour)})
	l.ministry(intent.RoundStream(round), intent.TypeIntentRoundClosed, intent.IntentRoundClosed{RoundID: round, Submitted: []string{"11"}, Missing: []string{"12"}})
	l.province("12", fs(round, "12"), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: "12", Form: tj, Late: true})
	l.ministry(intent.RoundStream(round), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: round})
	l.ministry(fs(round, "11"), intent.TypeIntentFeedbackRecorded, intent.IntentFeedbackRecorded{RoundID: round, Province: "11", Text: "同意备案"})
	// An event of another kind must be ignored by every intent projection.
	l.ministry("user-x", identity.TypeUserRegistered, identity.UserRegistered{UserID: "x", Name: "x", Role: identity.RoleAuditor, Organisation: "审计署"})
	return deadline, bj, tj
}

// applyTo applies every committed event to p in one transaction, resetting it
// first when reset, and returns its digest.
func applyTo(t *testing.T, pool *pgxpool.Pool, store *events.Store, p projections.Projection, reset bool) string {
	t.Helper()
	ctx := context.Background()
	evs := allCommitted(t, ctx, pool, store)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := p.Setup(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if reset {
		if err := p.Reset(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range evs {
		if err := p.Apply(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	d, err := p.Digest(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

var intentProjections = []projections.Projection{projections.IntentPlan{}, projections.IntentLiaisons{}, projections.IntentRounds{}}

// The live projector and a rebuild from the log come out identical, for each
// intent read model.
func TestIntentProjectionsLiveEqualsRebuild(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	intentScenario(t, s)
	pr := newProjector(t, d, s, nil, intentProjections...)
	start(t, pr)
	waitCaughtUp(t, pr)
	ctx := context.Background()
	for _, p := range intentProjections {
		t.Run(p.Name(), func(t *testing.T) {
			live, err := projections.Digest(ctx, d.Pool, p)
			if err != nil {
				t.Fatal(err)
			}
			rebuilt, err := projections.Rebuild(ctx, d.Pool, s, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rebuilt != live {
				t.Fatalf("rebuilt digest %s, live %s", rebuilt, live)
			}
			if empty := emptyDigest(t, d, p); empty == live {
				t.Fatal("digest of the model equals that of an empty model")
			}
		})
	}
}

func emptyDigest(t *testing.T, d *pgtest.DB, p projections.Projection) string {
	t.Helper()
	ctx := context.Background()
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := p.Reset(ctx, tx); err != nil {
		t.Fatal(err)
	}
	dg, err := p.Digest(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	return dg
}

func TestIntentReadModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, s := newEnv(t)
	deadline, bj, tj := intentScenario(t, s)
	digests := map[string]string{}
	for _, p := range intentProjections {
		digests[p.Name()] = applyTo(t, d.Pool, s, p, false)
	}

	t.Run("PlanBatch", func(t *testing.T) {
		b, err := projections.GetPlanBatch(ctx, d.Pool, "2022-1")
		if err != nil {
			t.Fatal(err)
		}
		if b.Name != "第一批" || b.OpenedBy != "admin" || len(b.Items) != 3 {
			t.Fatalf("batch %+v", b)
		}
		for i, it := range testItems {
			if b.Items[i] != it {
				t.Fatalf("item %d = %+v, want %+v", i, b.Items[i], it)
			}
		}
		if _, err := projections.GetPlanBatch(ctx, d.Pool, "nope"); !errors.Is(err, projections.ErrPlanBatchNotFound) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("Liaisons", func(t *testing.T) {
		o, err := projections.Liaisons(ctx, d.Pool)
		if err != nil {
			t.Fatal(err)
		}
		if o.Deadline == nil || !o.Deadline.Equal(time.Date(2022, 4, 27, 10, 0, 0, 0, time.UTC)) {
			t.Fatalf("deadline %v", o.Deadline)
		}
		if len(o.Liaisons) != 2 || o.Liaisons[0].Name != "李四" || o.Liaisons[0].Registrations != 2 || o.Liaisons[1].Province != "14" {
			t.Fatalf("liaisons %+v", o.Liaisons)
		}
		// The test's events are recorded now, years after the 2022 deadline.
		if !o.Liaisons[0].Late || o.Liaisons[0].ProvinceName != "北京市" {
			t.Fatalf("liaison %+v, want late 北京市", o.Liaisons[0])
		}
		if len(o.Missing) != len(identity.Provinces)-2 || o.Missing[0].Code != "12" || o.Missing[len(o.Missing)-1].Code != "66" {
			t.Fatalf("missing %+v", o.Missing)
		}
	})

	t.Run("Round", func(t *testing.T) {
		r, err := projections.GetRound(ctx, d.Pool, "2022-1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Stage != intent.StageFiled || !r.Deadline.Equal(deadline) || r.ClosedAt == nil || r.FiledAt == nil || len(r.Items) != 3 {
			t.Fatalf("round %+v", r)
		}
		if len(r.ReminderOffsets) != 2 || r.ReminderOffsets[0] != 72*time.Hour {
			t.Fatalf("offsets %v", r.ReminderOffsets)
		}
		if len(r.Provinces) != len(identity.Provinces) {
			t.Fatalf("%d provinces, want every one", len(r.Provinces))
		}
		tjp := r.Provinces[1]
		if tjp.Code != "12" || tjp.Extension == nil || !tjp.Extension.Equal(deadline.Add(48*time.Hour)) ||
			tjp.Status != intent.StatusSubmitted || !tjp.Late || len(tjp.Reminders) != 1 || tjp.Reminders[0].Offset != 72*time.Hour {
			t.Fatalf("tianjin %+v", tjp)
		}
		if !r.EffectiveDeadline("12").Equal(deadline.Add(48*time.Hour)) || !r.EffectiveDeadline("11").Equal(deadline) {
			t.Fatal("effective deadline")
		}
		if _, err := projections.GetRound(ctx, d.Pool, "nope"); !errors.Is(err, projections.ErrRoundNotFound) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("Form", func(t *testing.T) {
		f, err := projections.GetForm(ctx, d.Pool, "2022-1", "11")
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != intent.StatusSubmitted || f.Late || f.Total != bj.Total || f.Totals != bj.Totals || f.SubmittedAt == nil {
			t.Fatalf("form %+v", f)
		}
		if len(f.Lines) != 3 || f.Lines[0].Name != testItems[0].Name || f.Lines[0].Funds != bj.Lines[0].Funds || !f.Lines[2].Undertake {
			t.Fatalf("lines %+v", f.Lines)
		}
		if len(f.Feedback) != 1 || f.Feedback[0].Text != "同意备案" {
			t.Fatalf("feedback %+v", f.Feedback)
		}
		tjv, err := projections.GetForm(ctx, d.Pool, "2022-1", "12")
		if err != nil {
			t.Fatal(err)
		}
		if tjv.Status != intent.StatusSubmitted || !tjv.Late || tjv.ReturnReason != "" || tjv.Extension == nil || tjv.Total != tj.Total {
			t.Fatalf("tianjin %+v", tjv)
		}
		he, err := projections.GetForm(ctx, d.Pool, "2022-1", "13")
		if err != nil {
			t.Fatal(err)
		}
		if he.Status != intent.StatusReturned || he.ReturnReason != "请核实经费" || he.Lines[1].Quantity != 50 {
			t.Fatalf("hebei %+v: a returned form keeps its lines and shows the reason", he)
		}
		none, err := projections.GetForm(ctx, d.Pool, "2022-1", "66")
		if err != nil || none.Status != intent.StatusNone || len(none.Lines) != 3 || none.Lines[0].Undertake {
			t.Fatalf("form of a province that did nothing: %+v, %v", none, err)
		}
		if _, err := projections.GetForm(ctx, d.Pool, "2022-1", "99"); !errors.Is(err, projections.ErrRoundNotFound) {
			t.Fatalf("unknown province: err = %v", err)
		}
	})

	t.Run("History", func(t *testing.T) {
		h, err := projections.FormHistory(ctx, d.Pool, "2022-1", "12")
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			action string
			status intent.Status
			qty    int64
		}{{"submit", intent.StatusSubmitted, 9}, {"return", intent.StatusReturned, 9}, {"save", intent.StatusDraft, 10}, {"submit", intent.StatusSubmitted, 10}}
		if len(h) != len(want) {
			t.Fatalf("%d entries, want %d", len(h), len(want))
		}
		for i, w := range want {
			if h[i].Seq != i+1 || h[i].Action != w.action || h[i].Status != w.status || h[i].Form.Lines[1].Quantity != w.qty || h[i].RecordedAt.IsZero() || h[i].ActorID == "" {
				t.Fatalf("entry %d = %+v, want %+v", i, h[i], w)
			}
		}
		if h[1].Reason != "数量有误" || h[1].ActorID != "admin" || h[0].ActorID != "p12" || !h[3].Late {
			t.Fatalf("entries %+v", h)
		}
	})

	t.Run("Summary", func(t *testing.T) {
		s, err := projections.GetSummary(ctx, d.Pool, "2022-1")
		if err != nil {
			t.Fatal(err)
		}
		// Beijing and Tianjin count; Hebei was returned and Shanxi only saved.
		if len(s.Submitted) != 2 || s.Submitted[0].Code != "11" || s.Submitted[1].Code != "12" || s.Expected != 32 {
			t.Fatalf("submitted %+v of %d", s.Submitted, s.Expected)
		}
		it1, it21, it4 := s.Items[0], s.Items[1], s.Items[2]
		if it1.Provinces != 2 || it1.Quantity != 3 || it1.Funds.School != bj.Lines[0].Funds.School+tj.Lines[0].Funds.School || it1.Funds.Provincial != 1 {
			t.Fatalf("item 1 %+v", it1)
		}
		if it21.Provinces != 1 || it21.Quantity != 10 || it21.Target != 300 || it21.Funds.Sponsor != 120_0000 {
			t.Fatalf("item 2.1 %+v", it21)
		}
		if n, dd, ok := it21.Coverage(); !ok || n != 10 || dd != 300 || it21.CoveragePercent() != "3.33" {
			t.Fatalf("coverage %d/%d %v %s", n, dd, ok, it21.CoveragePercent())
		}
		if it4.Provinces != 1 || it4.CoveragePercent() != "" || it4.Funds.Industry != 5 {
			t.Fatalf("item 4 %+v", it4)
		}
		want, err := bj.Totals.Plus(tj.Totals)
		if err != nil {
			t.Fatal(err)
		}
		if s.Totals != want || s.Total != bj.Total+tj.Total {
			t.Fatalf("totals %+v %d, want %+v %d", s.Totals, s.Total, want, bj.Total+tj.Total)
		}
		if len(s.Missing) != 30 || s.Missing[0].Code != "13" || s.Missing[0].Status != intent.StatusReturned ||
			s.Missing[1].Code != "14" || s.Missing[1].Status != intent.StatusDraft || s.Missing[1].LiaisonName != "王五" {
			t.Fatalf("missing %+v", s.Missing[:2])
		}
	})

	t.Run("RebuildIsIdentical", func(t *testing.T) {
		for _, p := range intentProjections {
			if got := applyTo(t, d.Pool, s, p, true); got != digests[p.Name()] {
				t.Errorf("%s: rebuilt digest %s, live %s", p.Name(), got, digests[p.Name()])
			}
		}
	})
}

func TestCoveragePercent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q, target int64
		want      string
	}{{0, 30, "0.00"}, {1, 3, "33.33"}, {2, 3, "66.67"}, {30, 30, "100.00"}, {45, 30, "150.00"}, {1, 80000, "0.00"}, {1, 20000, "0.01"}, {0, 0, ""}} {
		it := projections.SummaryItem{TaskItem: intent.TaskItem{Target: c.target}, Quantity: c.q}
		if got := it.CoveragePercent(); got != c.want {
			t.Errorf("%d/%d = %q, want %q", c.q, c.target, got, c.want)
		}
	}
}
