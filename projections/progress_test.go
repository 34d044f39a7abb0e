package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/projections"
)

// progressCatalogue is the notice's first batch (reference/key-tasks-2022-batch1.csv).
var progressCatalogue = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
	{Item: "3", Code: "LMJT", Name: "打造技工教育联盟（集团）", Target: 100, Unit: "个", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
	{Item: "5", Code: "GHJC", Name: "开发全国技工教育规划教材", Kind: intent.KindDevelopment},
	{Item: "6", Code: "SZZY", Name: "遴选技工教育数字化资源建设与应用优秀院校", Target: 100, Unit: "所", Kind: intent.KindSelection},
	{Item: "7", Code: "JPKC", Name: "遴选技工教育精品在线课程", Target: 500, Unit: "门", Kind: intent.KindSelection},
}

// progressLog appends a programme's events in the order the platform would
// record them, with some randomness in who does what.
type progressLog struct {
	t     *testing.T
	s     *events.Store
	n     int
	marks []int // event counts at which an earlier instant is checked
}

func (l *progressLog) put(stream, typ string, v any) {
	l.t.Helper()
	l.n++
	data, err := json.Marshal(v)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.s.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("progress-test", fmt.Sprint(l.n)), Type: typ, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "u", Role: "ministry"},
	}); err != nil {
		l.t.Fatal(err)
	}
}

func (l *progressLog) mark() { l.marks = append(l.marks, l.n) }

// ProgramLog writes a first batch from intents to acceptance: intents (one
// returned and left, one returned and submitted again), two selection batches
// of one item published one after the other, a batch stuck past its deadline,
// projects flagged, rectified, revoked and accepted, a yearly collection with
// reports submitted, returned and locked.
func programLog(l *progressLog, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	const plan = "2022-1"
	provinces := slices.Sorted(func(yield func(string) bool) {
		for p := range identity.Provinces {
			if !yield(p) {
				return
			}
		}
	})[:10]
	l.put(intent.PlanStream(plan), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: plan, Name: "2022年第一批", Items: progressCatalogue[:6]})
	l.put(intent.PlanStream(plan), intent.TypePlanItemsAdded, intent.PlanItemsAdded{BatchID: plan, Items: progressCatalogue[6:]})
	l.put(intent.RoundStream("R1"), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: "R1", BatchID: plan,
		Items: progressCatalogue, Provinces: provinces, Deadline: time.Date(2022, 3, 1, 10, 0, 0, 0, time.UTC)})
	form := func() intent.Form {
		var f intent.Form
		for _, it := range progressCatalogue {
			l := intent.Line{Item: it.Item, Undertake: r.IntN(3) > 0}
			if l.Undertake {
				if it.Kind == intent.KindSelection {
					l.Quantity = int64(1 + r.IntN(9))
				}
				l.Funds.Set(intent.Sources[r.IntN(5)], intent.Yuan(r.IntN(5_000_000)))
				l.Funds.Set(intent.Sources[r.IntN(5)], intent.Yuan(r.IntN(9_999)))
			}
			f.Lines = append(f.Lines, l)
		}
		return f
	}
	for i, p := range provinces {
		st := intent.FormStream("R1", p)
		l.put(st, intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: "R1", Province: p, Form: form()})
		if i%4 == 1 {
			l.put(st, intent.TypeIntentReturned, intent.IntentReturned{RoundID: "R1", Province: p, Reason: "请核实"})
			if i%8 != 1 {
				l.put(st, intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: "R1", Province: p, Form: form()})
			}
		}
	}
	l.mark()
	l.put(intent.RoundStream("R1"), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: "R1"})

	batch := func(id, item string) string {
		st := selection.SelectionBatchStream(id)
		l.put(st, selection.TypeSelectionBatchOpened, selection.SelectionBatchOpened{BatchID: id, PlanBatchID: plan, TaskItem: item,
			TaskType: "T", Quota: 5, Deadline: time.Date(2022, 5, 1, 10, 0, 0, 0, time.UTC)})
		return st
	}
	app := 0
	apply := func(b, item string) map[string][]string {
		byProvince := map[string][]string{}
		for _, p := range provinces {
			for range r.IntN(4) {
				app++
				id := fmt.Sprintf("a%03d", app)
				l.put(selection.ApplicationStream(id), selection.TypeApplicationCreated, selection.ApplicationCreated{
					ApplicationID: id, BatchID: b, TaskItem: item, TaskType: "T", School: p + "-s", Province: p, Title: id})
				if r.IntN(5) > 0 {
					l.put(selection.ApplicationStream(id), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: id})
					byProvince[p] = append(byProvince[p], id)
				}
			}
		}
		return byProvince
	}
	recommend := func(st string, byProvince map[string][]string) []string {
		var all []string
		for _, p := range slices.Sorted(func(yield func(string) bool) {
			for p := range byProvince {
				if !yield(p) {
					return
				}
			}
		}) {
			apps := byProvince[p]
			l.put(st, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: p, Applications: apps})
			if len(apps) > 1 && r.IntN(2) == 0 {
				apps = apps[:len(apps)-1] // a province takes one back
				l.put(st, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: p, Applications: apps})
			}
			all = append(all, apps...)
		}
		return all
	}
	appProvince := map[string]string{}
	publish := func(st, b, item string, recommended []string) []selection.ProjectCreated {
		l.put(st, selection.TypeStageAdvanced, selection.StageAdvanced{From: selection.StageRecommendation, To: selection.StageQualification,
			Deadline: time.Date(2022, 6, 1, 10, 0, 0, 0, time.UTC)})
		var list []string
		for _, a := range recommended {
			if r.IntN(3) > 0 {
				list = append(list, a)
			}
		}
		l.put(st, selection.TypeSelectionBatchPublished, selection.SelectionBatchPublished{List: list})
		var out []selection.ProjectCreated
		for i, a := range list {
			pc := selection.ProjectCreated{ProjectID: selection.ProjectID(b, a), BatchID: b, TaskItem: item, TaskType: "T",
				Application: a, Province: appProvince[a], Rank: i + 1}
			l.put(selection.ProjectStream(pc.ProjectID), selection.TypeProjectCreated, pc)
			out = append(out, pc)
		}
		return out
	}
	remember := func(m map[string][]string) map[string][]string {
		for p, apps := range m {
			for _, a := range apps {
				appProvince[a] = p
			}
		}
		return m
	}

	st1 := batch("b1", "2.1")
	rec1 := recommend(st1, remember(apply("b1", "2.1")))
	st7 := batch("b7", "7")
	recommend(st7, remember(apply("b7", "7")))
	l.put(st7, selection.TypeStageDeadlinePassed, selection.StageDeadlinePassed{Stage: selection.StageRecommendation})
	projects := publish(st1, "b1", "2.1", rec1)
	l.mark()

	for i, pc := range projects {
		st := selection.ProjectStream(pc.ProjectID)
		switch i % 5 {
		case 1:
			l.put(st, tracking.TypeProjectFlagged, tracking.ProjectFlagged{ProjectID: pc.ProjectID, Reason: "滞后",
				RectifyBy: time.Date(2023, 9, 30, 16, 0, 0, 0, time.UTC)})
		case 2:
			l.put(st, tracking.TypeProjectFlagged, tracking.ProjectFlagged{ProjectID: pc.ProjectID, Reason: "滞后",
				RectifyBy: time.Date(2099, 9, 30, 16, 0, 0, 0, time.UTC)})
			l.put(st, tracking.TypeRectificationConfirmed, tracking.RectificationConfirmed{ProjectID: pc.ProjectID})
		case 3:
			l.put(st, tracking.TypeProjectRevoked, tracking.ProjectRevoked{ProjectID: pc.ProjectID, Reason: "撤销"})
		}
	}
	const year = 2023
	l.put("performance-collection-2023", performance.TypeCollectionOpened, performance.CollectionOpened{Year: year,
		Deadline: time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), Projects: len(projects)})
	for i, pc := range projects {
		st := fmt.Sprintf("performance-report-%d-%s", year, pc.ProjectID)
		l.put(st, performance.TypeReportOpened, performance.ReportOpened{Year: year, ProjectID: pc.ProjectID, BatchID: pc.BatchID,
			TaskItem: pc.TaskItem, TaskType: "T", Application: pc.Application, School: pc.Province + "-s", Province: pc.Province})
		if i%4 == 0 {
			continue
		}
		var rep performance.Report
		rep.Planned.Set(intent.Sources[i%5], intent.Yuan(100_000+r.IntN(1_000_000)))
		rep.Spent.Set(intent.Sources[i%5], intent.Yuan(r.IntN(1_000_000)))
		rep.Spent.Set(intent.Sources[(i+1)%5], intent.Yuan(r.IntN(1_000)))
		l.put(st, performance.TypeReportSubmitted, performance.ReportSubmitted{Year: year, ProjectID: pc.ProjectID, Report: rep, Submission: 1})
		switch i % 4 {
		case 2:
			l.put(st, performance.TypeReportReturned, performance.ReportReturned{Year: year, ProjectID: pc.ProjectID, Submission: 1, Reason: "补充"})
		case 3:
			l.put(st, performance.TypeReportLocked, performance.ReportLocked{Year: year, ProjectID: pc.ProjectID, Submission: 1})
		}
	}
	l.mark()

	st2 := batch("b2", "2.1")
	projects2 := publish(st2, "b2", "2.1", recommend(st2, remember(apply("b2", "2.1"))))
	for i, pc := range projects2 {
		if i%2 == 0 {
			l.put(selection.ProjectStream(pc.ProjectID), tracking.TypeProjectAccepted, tracking.ProjectAccepted{ProjectID: pc.ProjectID,
				AcceptedAt: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Conclusion: "通过"})
		}
	}
}

// expectedProgress counts the programme straight from the log's events, by
// other means than the read model: every fact kept in plain maps, decoded
// with encoding/json, replaced or removed as the events say.
type expectedProgress struct {
	items   map[[2]string]projections.ProgressCounts // (plan batch, item)
	targets map[[2]string]int64
	cells   map[[3]string]projections.ProgressCounts // (plan batch, item, province)
	money   map[intent.Source][3]intent.Yuan         // pledged, planned, spent
}

func countProgress(t *testing.T, evs []events.Event, province string) expectedProgress {
	t.Helper()
	type form struct {
		round string
		lines []intent.Line
	}
	type app struct {
		batch, item, province string
		submitted             bool
	}
	type project struct {
		batch, item, province string
		status                tracking.Status
	}
	type report struct {
		batch, province, item string
		status                performance.Status
		rep                   performance.Report
	}
	var (
		targets     = map[[2]string]int64{}
		roundPlan   = map[string]string{}
		forms       = map[[2]string]form{} // (plan, province)
		batches     = map[string][2]string{}
		apps        = map[string]*app{}
		recommended = map[[2]string][]string{} // (batch, province)
		projects    = map[string]*project{}
		reports     = map[string]*report{}
	)
	dec := func(e events.Event, v any) {
		if err := json.Unmarshal(e.Data, v); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	for _, e := range evs {
		switch e.Type {
		case intent.TypePlanBatchOpened, intent.TypePlanItemsAdded:
			var v intent.PlanItemsAdded
			dec(e, &v)
			for _, it := range v.Items {
				targets[[2]string{v.BatchID, it.Item}] = it.Target
			}
		case intent.TypeIntentRoundOpened:
			var v intent.IntentRoundOpened
			dec(e, &v)
			roundPlan[v.RoundID] = v.BatchID
		case intent.TypeIntentSubmitted:
			var v intent.IntentSubmitted
			dec(e, &v)
			forms[[2]string{roundPlan[v.RoundID], v.Province}] = form{v.RoundID, v.Form.Lines}
		case intent.TypeIntentReturned:
			var v intent.IntentReturned
			dec(e, &v)
			if k := [2]string{roundPlan[v.RoundID], v.Province}; forms[k].round == v.RoundID {
				delete(forms, k)
			}
		case selection.TypeSelectionBatchOpened:
			var v selection.SelectionBatchOpened
			dec(e, &v)
			batches[v.BatchID] = [2]string{v.PlanBatchID, v.TaskItem}
		case selection.TypeApplicationsRecommended:
			var v selection.ApplicationsRecommended
			dec(e, &v)
			recommended[[2]string{e.StreamID[len("selection-batch-"):], v.Province}] = v.Applications
		case selection.TypeApplicationCreated:
			var v selection.ApplicationCreated
			dec(e, &v)
			apps[v.ApplicationID] = &app{batch: v.BatchID, item: v.TaskItem, province: v.Province}
		case selection.TypeApplicationSubmitted:
			var v selection.ApplicationSubmitted
			dec(e, &v)
			apps[v.ApplicationID].submitted = true
		case selection.TypeProjectCreated:
			var v selection.ProjectCreated
			dec(e, &v)
			projects[v.ProjectID] = &project{batch: v.BatchID, item: v.TaskItem, province: v.Province, status: tracking.StatusActive}
		case tracking.TypeProjectFlagged, tracking.TypeRectificationConfirmed, tracking.TypeProjectRevoked, tracking.TypeProjectAccepted:
			var v struct {
				ProjectID string `json:"project_id"`
			}
			dec(e, &v)
			projects[v.ProjectID].status = map[string]tracking.Status{tracking.TypeProjectFlagged: tracking.StatusFlagged,
				tracking.TypeRectificationConfirmed: tracking.StatusActive, tracking.TypeProjectRevoked: tracking.StatusRevoked,
				tracking.TypeProjectAccepted: tracking.StatusAccepted}[e.Type]
		case performance.TypeReportOpened:
			var v performance.ReportOpened
			dec(e, &v)
			reports[fmt.Sprint(v.Year, v.ProjectID)] = &report{batch: v.BatchID, province: v.Province, item: v.TaskItem, status: performance.StatusOpen}
		case performance.TypeReportSubmitted:
			var v performance.ReportSubmitted
			dec(e, &v)
			rp := reports[fmt.Sprint(v.Year, v.ProjectID)]
			rp.status, rp.rep = performance.StatusSubmitted, v.Report
		case performance.TypeReportReturned, performance.TypeReportLocked:
			var v performance.ReportLocked
			dec(e, &v)
			reports[fmt.Sprint(v.Year, v.ProjectID)].status = map[string]performance.Status{
				performance.TypeReportReturned: performance.StatusReturned, performance.TypeReportLocked: performance.StatusLocked}[e.Type]
		}
	}
	x := expectedProgress{items: map[[2]string]projections.ProgressCounts{}, targets: targets,
		cells: map[[3]string]projections.ProgressCounts{}, money: map[intent.Source][3]intent.Yuan{}}
	bump := func(plan, item, prov string, f func(c *projections.ProgressCounts)) {
		if _, ok := targets[[2]string{plan, item}]; !ok || (province != "" && prov != province) {
			return
		}
		c := x.cells[[3]string{plan, item, prov}]
		f(&c)
		x.cells[[3]string{plan, item, prov}] = c
		n := x.items[[2]string{plan, item}]
		f(&n)
		x.items[[2]string{plan, item}] = n
	}
	money := func(prov, plan, item string, f intent.Funds, at int) {
		if _, ok := targets[[2]string{plan, item}]; !ok || (province != "" && prov != province) {
			return
		}
		for _, s := range intent.Sources {
			m := x.money[s]
			m[at] += f.Get(s)
			x.money[s] = m
		}
	}
	for k, f := range forms {
		for _, l := range f.lines {
			if l.Undertake {
				bump(k[0], l.Item, k[1], func(c *projections.ProgressCounts) { c.Intended += l.Quantity; c.Provinces++ })
			}
			money(k[1], k[0], l.Item, l.Funds, 0)
		}
	}
	for _, a := range apps {
		if a.submitted {
			bump(batches[a.batch][0], a.item, a.province, func(c *projections.ProgressCounts) { c.Applications++ })
		}
	}
	for k, list := range recommended {
		b := batches[k[0]]
		for range list {
			bump(b[0], b[1], k[1], func(c *projections.ProgressCounts) { c.Recommended++ })
		}
	}
	for _, p := range projects {
		bump(batches[p.batch][0], p.item, p.province, func(c *projections.ProgressCounts) {
			c.Published++
			switch p.status {
			case tracking.StatusActive:
				c.UnderConstruction++
			case tracking.StatusFlagged:
				c.UnderConstruction++
				c.Flagged++
			case tracking.StatusRevoked:
				c.Revoked++
			case tracking.StatusAccepted:
				c.Accepted++
			}
		})
	}
	for _, rp := range reports {
		if rp.status == performance.StatusSubmitted || rp.status == performance.StatusLocked {
			plan := batches[rp.batch][0]
			money(rp.province, plan, rp.item, rp.rep.Planned, 1)
			money(rp.province, plan, rp.item, rp.rep.Spent, 2)
		}
	}
	return x
}

// compare checks a progress report against the independent count.
func (x expectedProgress) compare(t *testing.T, what string, got projections.ProgressReport, province string) {
	t.Helper()
	if len(got.Items) != len(x.targets) {
		t.Fatalf("%s: %d items, want %d", what, len(got.Items), len(x.targets))
	}
	for _, it := range got.Items {
		k := [2]string{it.PlanBatchID, it.Item}
		want := x.items[k]
		if it.ProgressCounts != want {
			t.Errorf("%s: item %s counts %+v, want %+v", what, it.Item, it.ProgressCounts, want)
		}
		target := x.targets[k]
		if province != "" {
			target = want.Intended
		}
		if r := max(target-want.Published+want.Revoked, 0); it.Remaining != r {
			t.Errorf("%s: item %s remaining %d, want %d", what, it.Item, it.Remaining, r)
		}
	}
	cells := map[[3]string]projections.ProgressCounts{}
	for _, c := range got.Cells {
		cells[[3]string{c.PlanBatchID, c.Item, c.Province}] = c.ProgressCounts
	}
	for k, want := range x.cells {
		if cells[k] != want {
			t.Errorf("%s: cell %v counts %+v, want %+v", what, k, cells[k], want)
		}
	}
	if len(cells) != len(x.cells) {
		t.Errorf("%s: %d cells, want %d", what, len(cells), len(x.cells))
	}
	for _, s := range got.Sources {
		if m := x.money[s.Source]; [3]intent.Yuan{s.Pledged, s.Planned, s.Spent} != m {
			t.Errorf("%s: %s pledged/planned/spent %d/%d/%d, want %v", what, s.Source, s.Pledged, s.Planned, s.Spent, m)
		}
	}
}

// The progress read model, built live with every message delivered twice,
// equals an independent count over the log, at the end and (replayed into a
// scratch) as of earlier instants, nationally and for one province.
func TestProgressEqualsCountOverLog(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	l := &progressLog{t: t, s: s}
	programLog(l, 20220415)
	pr := newProjector(t, d, s, nil, projections.Progress{})
	pr.AddHandlerMiddleware(middleware.Duplicator)
	start(t, pr)
	waitCaughtUp(t, pr)
	if err := s.SealCommitted(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ReadAll(ctx, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != l.n {
		t.Fatalf("log holds %d events, appended %d", len(evs), l.n)
	}
	const prov = "13"
	for _, f := range []projections.ProgressFilter{{}, {Province: prov}} {
		got, err := projections.ReadProgress(ctx, d.Pool, f)
		if err != nil {
			t.Fatal(err)
		}
		x := countProgress(t, evs, f.Province)
		x.compare(t, "live "+f.Province, got, f.Province)
		if f.Province == "" {
			// The log must exercise what is counted, or the comparison proves little.
			n := x.items[[2]string{"2022-1", "2.1"}]
			if n.Published == 0 || n.Revoked == 0 || n.Flagged == 0 || n.Accepted == 0 || n.Recommended == 0 || n.Intended == 0 ||
				x.money[intent.SourceSchool][0]+x.money[intent.SourceIndustry][0] == 0 {
				t.Fatalf("the generated log exercises too little: %+v %v", n, x.money)
			}
		}
	}
	// Earlier instants through the time travel the auditors use.
	conn := writerConn(t, d)
	sc, err := projections.NewScratch(ctx, conn, "", []projections.Projection{projections.Progress{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range l.marks {
		pos := evs[m-1].Position
		if _, err := sc.ReplayTo(ctx, s, pos); err != nil {
			t.Fatal(err)
		}
		for _, f := range []projections.ProgressFilter{{}, {Province: prov}} {
			got, err := projections.ReadProgress(ctx, conn, f)
			if err != nil {
				t.Fatal(err)
			}
			countProgress(t, evs[:m], f.Province).compare(t, fmt.Sprintf("as of position %d %s", pos, f.Province), got, f.Province)
		}
	}
	// What needs acting on: the flagged project past its deadline, the
	// batch stuck past its deadline, the reports owed after the year's.
	att, err := projections.ReadProgressAttention(ctx, d.Pool, projections.ProgressFilter{}, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(att.StuckBatches) != 1 || att.StuckBatches[0].BatchID != "b7" || len(att.OverdueFlags) == 0 || len(att.OwedReports) == 0 ||
		att.Collection == nil || att.Collection.Year != 2023 || att.Collection.Submitted == 0 || att.Collection.Submitted >= att.Collection.Reports {
		t.Fatalf("attention %+v", att)
	}
	for _, o := range att.OverdueFlags {
		if o.RectifyBy.Year() != 2023 {
			t.Errorf("flag not overdue listed: %+v", o)
		}
	}
}
