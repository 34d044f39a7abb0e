package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/projections"
	"keytask/projections/progresstest"
)

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
	n := 0
	marks := progresstest.Program(func(stream, typ string, v any) {
		t.Helper()
		n++
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("progress-test", fmt.Sprint(n)), Type: typ, SchemaVersion: 1, Data: data,
			Metadata: events.Metadata{ActorID: "u", Role: "ministry"},
		}); err != nil {
			t.Fatal(err)
		}
	}, 20220415, progresstest.Small)
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
	if len(evs) != n {
		t.Fatalf("log holds %d events, appended %d", len(evs), n)
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
	for _, m := range marks {
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
