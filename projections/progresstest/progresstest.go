// Package progresstest emits a synthetic programme, from the intents to
// acceptance, for the tests and benchmarks of the progress read model and the
// dashboard: every case the model counts, at a small or a national size.
package progresstest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
)

// Catalogue is the notice's first batch (reference/key-tasks-2022-batch1.csv).
var Catalogue = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
	{Item: "3", Code: "LMJT", Name: "打造技工教育联盟（集团）", Target: 100, Unit: "个", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
	{Item: "5", Code: "GHJC", Name: "开发全国技工教育规划教材", Kind: intent.KindDevelopment},
	{Item: "6", Code: "SZZY", Name: "遴选技工教育数字化资源建设与应用优秀院校", Target: 100, Unit: "所", Kind: intent.KindSelection},
	{Item: "7", Code: "JPKC", Name: "遴选技工教育精品在线课程", Target: 500, Unit: "门", Kind: intent.KindSelection},
}

// Emit records one event of the programme: its stream, type and payload.
type Emit func(stream, typ string, v any)

// Scale sizes a programme: how many provinces take part, at most how many
// applications a province files to one batch, and whether every selection
// item gets a batch (the national size) or only items 2.1 and 7.
type Scale struct {
	Provinces int
	Apps      int
	AllItems  bool
}

// Small is what a test reads through: every case, few rows.
var Small = Scale{Provinces: 10, Apps: 4}

// National is about the national round's size: 32 provinces, some six
// thousand applications over the selection items.
var National = Scale{Provinces: 32, Apps: 60, AllItems: true}

type log struct {
	emit  Emit
	n     int
	marks []int
}

func (l *log) put(stream, typ string, v any) {
	l.n++
	l.emit(stream, typ, v)
}

func (l *log) mark() { l.marks = append(l.marks, l.n) }

// Program emits a first batch from intents to acceptance: intents (one
// returned and left, one returned and submitted again), two selection batches
// of one item published one after the other, a batch stuck past its deadline,
// projects flagged, rectified, revoked and accepted, a yearly collection with
// reports submitted, returned and locked.
//
// It returns the number of events emitted at three earlier instants: after
// the intents, after the first publication, after the yearly collection.
func Program(emit Emit, seed uint64, sc Scale) []int {
	l := &log{emit: emit}
	r := rand.New(rand.NewPCG(seed, 7))
	const plan = "2022-1"
	provinces := slices.Sorted(func(yield func(string) bool) {
		for p := range identity.Provinces {
			if !yield(p) {
				return
			}
		}
	})[:sc.Provinces]
	l.put(intent.PlanStream(plan), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: plan, Name: "2022年第一批", Items: Catalogue[:6]})
	l.put(intent.PlanStream(plan), intent.TypePlanItemsAdded, intent.PlanItemsAdded{BatchID: plan, Items: Catalogue[6:]})
	l.put(intent.RoundStream("R1"), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: "R1", BatchID: plan,
		Items: Catalogue, Provinces: provinces, Deadline: time.Date(2022, 3, 1, 10, 0, 0, 0, time.UTC)})
	form := func() intent.Form {
		var f intent.Form
		for _, it := range Catalogue {
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
			for range r.IntN(sc.Apps) {
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

	if sc.AllItems {
		for _, it := range Catalogue {
			if it.Kind != intent.KindSelection || it.Item == "2.1" || it.Item == "7" {
				continue
			}
			id := "x" + it.Code
			st := batch(id, it.Item)
			publish(st, id, it.Item, recommend(st, remember(apply(id, it.Item))))
		}
	}
	st2 := batch("b2", "2.1")
	projects2 := publish(st2, "b2", "2.1", recommend(st2, remember(apply("b2", "2.1"))))
	for i, pc := range projects2 {
		if i%2 == 0 {
			l.put(selection.ProjectStream(pc.ProjectID), tracking.TypeProjectAccepted, tracking.ProjectAccepted{ProjectID: pc.ProjectID,
				AcceptedAt: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Conclusion: "通过"})
		}
	}
	return l.marks
}
