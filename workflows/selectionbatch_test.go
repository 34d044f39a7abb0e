package workflows_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/workflows"
)

var selStart = time.Date(2025, 3, 3, 9, 0, 0, 0, cst) // a Monday

// batchTest drives a selection batch with time skipping against a real log.
type batchTest struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	store  *events.Store
	params workflows.SelectionBatchParams
	stages []string
}

// newBatchTest drives a batch opened before panel rules (panels of two, no
// declarations), as the batches recorded then still run.
func newBatchTest(t *testing.T, opts ...workflows.Options) *batchTest {
	t.Helper()
	bt := newPanelBatchTest(t, opts...)
	bt.env.OnGetVersion(workflows.SelectionPanelsChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	return bt
}

// newPanelBatchTest drives a batch opened with panel rules.
func newPanelBatchTest(t *testing.T, opts ...workflows.Options) *batchTest {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	bt := &batchTest{t: t, env: newTestEnv(&s)}
	bt.store = events.NewStore(pgtest.New(t).Pool, events.WithClock(bt.env.Now))
	bt.env.SetStartTime(selStart)
	bt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.SelectionBatchWorkflowID("b1")})
	var o workflows.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	workflows.RegisterWith(bt.env, &activities.Activities{Store: bt.store}, o)
	bt.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		stage, _ := sa.GetKeyword(workflows.StageKey)
		item, _ := sa.GetKeyword(workflows.TaskItemKey)
		if item != "2.1" {
			t.Errorf("task item search attribute %q", item)
		}
		bt.stages = append(bt.stages, stage)
	})
	bt.params = batchParams()
	return bt
}

// batchParams opens batch b1 of task item 2.1 at selStart.
func batchParams() workflows.SelectionBatchParams {
	return workflows.SelectionBatchParams{Actor: ministry, Batch: selection.SelectionBatchOpened{
		BatchID: "b1", PlanBatchID: "2022-1", TaskItem: "2.1", TaskType: "YZYX", Quota: 2,
		ProvinceQuotas: map[string]int{"11": 2, "44": 1}, PerApplication: 2,
		Periods:  map[selection.Stage]time.Duration{selection.StageQualification: 10 * day, selection.StageExpertReview: 10 * day},
		Rubric:   scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{{Key: "base", Name: "建设基础", Weight: 60, Max: 60}, {Key: "plan", Name: "建设方案", Weight: 40, Max: 40}}},
		Deadline: selStart.Add(2 * day),
	}}
}

func (bt *batchTest) seed(stream, typ string, data any) {
	bt.t.Helper()
	b, _ := json.Marshal(data)
	if _, err := bt.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("seed", stream, typ), Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
		bt.t.Fatal(err)
	}
}

// update sends name at at with the argument arg() computes then, so a command
// may use an earlier update's result.
func (bt *batchTest) update(at time.Time, name string, arg func() any) *outcome {
	o := &outcome{name: name}
	bt.env.RegisterDelayedCallback(func() {
		o.at = bt.env.Now()
		bt.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() { o.accepted = true },
			OnReject:   func(err error) { o.rejected, o.err = true, err },
			OnComplete: func(res any, err error) { o.completed, o.result, o.err = true, res, err },
		}, arg())
	}, at.Sub(selStart))
	return o
}

func (bt *batchTest) status(at time.Time) *workflows.SelectionBatchStatus {
	st := &workflows.SelectionBatchStatus{}
	bt.env.RegisterDelayedCallback(func() {
		v, err := bt.env.QueryWorkflow(workflows.QuerySelectionBatchStatus)
		if err != nil {
			bt.t.Errorf("query: %v", err)
			return
		}
		if err := v.Get(st); err != nil {
			bt.t.Error(err)
		}
	}, at.Sub(selStart))
	return st
}

func decode[T any](t *testing.T, o *outcome) T {
	t.Helper()
	var v T
	switch r := o.result.(type) {
	case T:
		return r
	case converter.EncodedValue:
		if err := r.Get(&v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func val(v any) func() any { return func() any { return v } }

var province11 = events.Metadata{ActorID: "u-11", Role: "province", Organisation: "11"}

func TestSelectionBatchLifecycle(t *testing.T) {
	bt := newBatchTest(t)
	for _, a := range []struct{ id, province string }{{"a1", "11"}, {"a2", "11"}, {"a3", "44"}} {
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationCreated, selection.ApplicationCreated{
			ApplicationID: a.id, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", School: "s-" + a.id, Province: a.province})
		bt.seed(selection.ApplicationStream(a.id), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: a.id, At: selStart})
	}
	// e3 is from Beijing like a1 and a2, so only e1 and e2 may review them.
	for _, e := range []struct{ id, province string }{{"e1", "31"}, {"e2", "32"}, {"e3", "11"}} {
		bt.seed(selection.ExpertStream(e.id), selection.TypeExpertRegistered, selection.ExpertRegistered{
			ExpertID: e.id, Name: "专家" + e.id, Expertise: map[string]int{"YZYX": 2}, Province: e.province, Load: 5})
	}
	h := time.Hour
	at := func(d time.Duration) time.Time { return selStart.Add(d) }
	S := selection.StageRecommendation
	Q, E, N := selection.StageQualification, selection.StageExpertReview, selection.StageNotice

	// Recommendation.
	overQuota := bt.update(at(h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "44", Applications: []string{"a3", "x"}}))
	early := bt.update(at(h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: Q, Actor: ministry}))
	rec11 := bt.update(at(2*h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "11", Applications: []string{"a1", "a2"}, Actor: province11}))
	rec44 := bt.update(at(2*h), workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: "44", Applications: []string{"a3"}}))
	skip := bt.update(at(3*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: E}))
	reopenFirst := bt.update(at(3*h), workflows.UpdateReopenStage, val(workflows.ReopenCommand{Stage: S, Reason: "x"}))
	toQ := bt.update(at(4*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: Q}))
	// Qualification.
	noReason := bt.update(at(5*h), workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: []selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a3", Outcome: selection.Failed}}}))
	qualify := bt.update(at(5*h), workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: []selection.QualificationDecision{
		{Application: "a1", Outcome: selection.Passed}, {Application: "a2", Outcome: selection.Returned, Reason: "缺少佐证材料"},
		{Application: "a3", Outcome: selection.Failed, Reason: "不符合申报条件"}}}))
	inWindow := bt.update(at(6*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: Q, To: E}))
	// a2 is editable again; until the school submits it again the batch refuses the resubmission.
	resubmitEarly := bt.update(at(5*h+30*time.Minute), workflows.UpdateResubmitCorrection, val(workflows.ResubmitCommand{Application: "a2"}))
	bt.seedAt(at(6*h+30*time.Minute), selection.ApplicationStream("a2"), selection.TypeApplicationSubmitted, selection.ApplicationSubmitted{ApplicationID: "a2", At: at(6*h + 30*time.Minute)})
	resubmit := bt.update(at(7*h), workflows.UpdateResubmitCorrection, val(workflows.ResubmitCommand{Application: "a2"}))
	pass2 := bt.update(at(8*h), workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: []selection.QualificationDecision{{Application: "a2", Outcome: selection.Passed}}}))
	// The qualification deadline (4h + 10 days) passes; the stage stays.
	overdue := bt.status(at(10*day + 5*h))
	extend := bt.update(at(10*day+6*h), workflows.UpdateExtendStageDeadline, val(workflows.ExtendStageCommand{Stage: Q, Deadline: at(12 * day)}))
	badExtend := bt.update(at(10*day+6*h), workflows.UpdateExtendStageDeadline, val(workflows.ExtendStageCommand{Stage: E, Deadline: at(13 * day)}))
	toE := bt.update(at(11*day), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: Q, To: E}))
	// Expert review.
	scoreEarly := bt.update(at(11*day+h), workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: "e1", Scores: []selection.ApplicationScores{{Application: "a1", Criteria: []int{50, 30}}}}))
	assign := bt.update(at(11*day+2*h), workflows.UpdateAssignExperts, val(workflows.AssignCommand{Actor: ministry}))
	assignAgain := bt.update(at(11*day+3*h), workflows.UpdateAssignExperts, val(workflows.AssignCommand{}))
	e1 := bt.update(at(11*day+4*h), workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: "e1", Scores: []selection.ApplicationScores{
		{Application: "a1", Criteria: []int{50, 30}}, {Application: "a2", Criteria: []int{55, 35}}}}))
	rankEarly := bt.update(at(11*day+5*h), workflows.UpdateProposeRanking, val(workflows.RankCommand{}))
	e3 := bt.update(at(11*day+5*h), workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: "e3", Scores: []selection.ApplicationScores{{Application: "a1", Criteria: []int{1, 1}}}}))
	e2 := bt.update(at(11*day+6*h), workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: "e2", Scores: []selection.ApplicationScores{
		{Application: "a1", Criteria: []int{50, 30}}, {Application: "a2", Criteria: []int{55, 35}}}}))
	toNEarly := bt.update(at(11*day+7*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: E, To: N}))
	rank := bt.update(at(11*day+8*h), workflows.UpdateProposeRanking, val(workflows.RankCommand{}))
	staleConfirm := bt.update(at(11*day+9*h), workflows.UpdateConfirmRanking, val(workflows.ConfirmRankingCommand{Round: 999}))
	confirm := bt.update(at(11*day+9*h), workflows.UpdateConfirmRanking, func() any {
		return workflows.ConfirmRankingCommand{Round: decode[workflows.RankResult](t, rank).Round}
	})
	toN := bt.update(at(12*day), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: E, To: N}))
	// Notice: 12 days after Monday 3 March 09:00 is Saturday 15 March; five
	// working days run Monday 17 to Friday 21 March.
	noticeEnd := time.Date(2025, 3, 22, 0, 0, 0, 0, cst)
	anonymous := bt.update(at(12*day+h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{Application: "a1", Contact: "138", Text: "不实"}))
	o1 := bt.update(at(12*day+2*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "13800000000", Text: "建设基础材料不实"}))
	o2 := bt.update(at(12*day+3*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o2", Application: "a2", Name: "李四", Contact: "13900000000", Text: "存疑"}))
	// The same form sent again files nothing more, even after the notice;
	// its id against another application is refused.
	o1Again := bt.update(at(12*day+4*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "13800000000", Text: "建设基础材料不实"}))
	o1Late := bt.update(noticeEnd.Add(h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o1", Application: "a1", Name: "张三", Contact: "13800000000", Text: "建设基础材料不实"}))
	o1Other := bt.update(at(12*day+4*h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o1", Application: "a2", Name: "张三", Contact: "13800000000", Text: "x"}))
	lateObjection := bt.update(noticeEnd.Add(h), workflows.UpdateFileObjection, val(workflows.ObjectionCommand{ObjectionID: "o3", Application: "a2", Name: "王五", Contact: "1", Text: "x"}))
	publishEarly := bt.update(noticeEnd.Add(-h), workflows.UpdatePublishSelection, val(workflows.PublishCommand{}))
	publishPending := bt.update(noticeEnd.Add(2*h), workflows.UpdatePublishSelection, val(workflows.PublishCommand{}))
	uphold := bt.update(noticeEnd.Add(3*h), workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o1", Outcome: selection.Upheld, Reason: "经核查属实"}))
	dismissNoReason := bt.update(noticeEnd.Add(3*h), workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o2", Outcome: selection.Dismissed}))
	dismiss := bt.update(noticeEnd.Add(4*h), workflows.UpdateAdjudicateObjection, val(workflows.AdjudicateCommand{ObjectionID: "o2", Outcome: selection.Dismissed, Reason: "经核查材料真实"}))
	advancePublish := bt.update(noticeEnd.Add(5*h), workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: N, To: selection.StagePublished}))
	publish := bt.update(noticeEnd.Add(6*h), workflows.UpdatePublishSelection, val(workflows.PublishCommand{Actor: ministry}))

	bt.env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, bt.params)
	if !bt.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := bt.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	resubmitEarly.failed(t, true, "application", "尚未重新提交")
	if got := bt.storeTypes(selection.ApplicationStream("a2")); strings.Join(got, ",") != "ApplicationCreated,ApplicationSubmitted,ApplicationReturned,ApplicationSubmitted" {
		t.Errorf("a2 stream %v: want it returned for correction, then submitted again", got)
	}
	a2 := bt.application("a2")
	if a2.Status != selection.StatusSubmitted || !a2.SubmittedAt.Equal(selStart) {
		t.Errorf("a2 %+v", a2)
	}
	if got := bt.storeTypes(selection.ApplicationStream("a3")); len(got) != 2 {
		t.Errorf("a3 failed, not returned, yet its stream is %v", got)
	}
	overQuota.refused(t, false, "applications", "超过")
	early.refused(t, true, "", "尚无任何省份推荐")
	skip.refused(t, false, "to", "只能从组织推荐推进到资格审核")
	reopenFirst.refused(t, true, "", "第一个阶段")
	noReason.refused(t, false, "decisions[1].reason", "须填写原因")
	inWindow.refused(t, true, "", "补正期")
	badExtend.refused(t, false, "stage", "当前阶段")
	scoreEarly.refused(t, false, "scores[0].application", "未分配")
	assignAgain.refused(t, true, "", "均已分配")
	rankEarly.refused(t, true, "", "未评分")
	e3.refused(t, false, "scores[0].application", "未分配")
	toNEarly.refused(t, true, "", "尚未经部确认")
	staleConfirm.refused(t, true, "", "排序结果已更新")
	anonymous.refused(t, false, "name", "实名")
	lateObjection.refused(t, true, "", "公示期已于")
	publishEarly.refused(t, true, "", "期满后方可公布")
	publishPending.refused(t, true, "", "尚未处理")
	dismissNoReason.refused(t, false, "reason", "理由")
	advancePublish.refused(t, true, "", "公布")
	for _, o := range []*outcome{rec11, rec44, toQ, qualify, resubmit, pass2, extend, toE, assign, e1, e2, rank, confirm, toN, o1, o2, uphold, dismiss, publish} {
		o.ok(t)
	}
	if !overdue.Overdue || overdue.Stage != Q {
		t.Errorf("after the qualification deadline: %+v", overdue)
	}
	if r := decode[workflows.AssignResult](t, assign); r.Applications != 2 || r.Experts != 2 {
		t.Errorf("assignment %+v", r)
	}
	if r := decode[workflows.RankResult](t, rank); len(r.Selected) != 2 || r.Selected[0] != "a2" {
		t.Errorf("ranking %+v", r)
	}
	if id := decode[string](t, o1); id != "o1" {
		t.Errorf("objection id %q", id)
	}
	o1Other.refused(t, true, "", "另一申报")
	for _, o := range []*outcome{o1Again, o1Late} {
		o.ok(t)
		if id := decode[string](t, o); id != "o1" {
			t.Errorf("objection sent again: id %q", id)
		}
	}

	batch := bt.storeTypes(selection.SelectionBatchStream("b1"))
	want := []string{"SelectionBatchOpened", "ApplicationsRecommended", "ApplicationsRecommended", "StageAdvanced",
		"QualificationDecided", "CorrectionResubmitted", "QualificationDecided", "StageDeadlinePassed", "StageDeadlineExtended",
		"StageAdvanced", "ExpertsAssigned", "ScoresSubmitted", "ScoresSubmitted", "RankingProposed", "RankingConfirmed",
		"StageAdvanced", "ObjectionFiled", "ObjectionFiled", "StageDeadlinePassed", "ObjectionAdjudicated", "ObjectionAdjudicated", "SelectionBatchPublished"}
	if len(batch) != len(want) {
		t.Fatalf("batch stream %v\nwant %v", batch, want)
	}
	for i := range want {
		if batch[i] != want[i] {
			t.Fatalf("batch stream %v\nwant %v", batch, want)
		}
	}
	if got := bt.storeTypes(selection.ProjectStream(selection.ProjectID("b1", "a2"))); len(got) != 1 || got[0] != "ProjectCreated" {
		t.Errorf("project a2: %v", got)
	}
	if got := bt.storeTypes(selection.ProjectStream(selection.ProjectID("b1", "a1"))); len(got) != 0 {
		t.Errorf("a1's objection was upheld, yet project: %v", got)
	}
	evs, _ := bt.store.ReadStream(context.Background(), selection.SelectionBatchStream("b1"), events.ReadOptions{})
	var adv selection.StageAdvanced
	for _, e := range evs {
		if e.Type == "StageAdvanced" {
			_ = json.Unmarshal(e.Data, &adv)
		}
	}
	if adv.Notice == nil || !adv.Notice.End.Equal(noticeEnd) {
		t.Errorf("notice %+v, want end %s", adv.Notice, noticeEnd)
	}
	wantStages := []string{"recommendation", "qualification", "expert_review", "notice", "published"}
	if len(bt.stages) != len(wantStages) {
		t.Errorf("stages %v, want %v", bt.stages, wantStages)
	}
}

func (bt *batchTest) storeTypes(stream string) []string {
	evs, err := bt.store.ReadStream(context.Background(), stream, events.ReadOptions{})
	if err != nil {
		bt.t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// application folds an application's stream.
func (bt *batchTest) application(id string) selection.Application {
	bt.t.Helper()
	evs, err := bt.store.ReadStream(context.Background(), selection.ApplicationStream(id), events.ReadOptions{})
	if err != nil {
		bt.t.Fatal(err)
	}
	var a selection.Application
	for _, e := range evs {
		p, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, e)
		if err != nil {
			bt.t.Fatal(err)
		}
		if ok {
			if err := a.Apply(p); err != nil {
				bt.t.Fatal(err)
			}
		}
	}
	return a
}
