package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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
	"keytask/domain"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/workflows"
)

var (
	cst    = time.FixedZone("CST", 8*3600)
	opened = time.Date(2022, 4, 24, 9, 0, 0, 0, cst)
	// 于 2022 年 6 月 15 日前, in Asia/Shanghai
	deadline = time.Date(2022, 6, 15, 0, 0, 0, 0, cst)
	day      = 24 * time.Hour
	ministry = events.Metadata{ActorID: "u-ministry", Role: "ministry", Organisation: "MOHRSS"}
)

func batch1() []intent.TaskItem {
	return []intent.TaskItem{
		{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
		{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
		{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
		{Item: "3", Code: "LMJT", Name: "打造技工教育联盟（集团）", Target: 100, Unit: "个", Kind: intent.KindSelection},
		{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Kind: intent.KindDevelopment},
		{Item: "5", Code: "GHJC", Name: "开发全国技工教育规划教材", Kind: intent.KindDevelopment},
		{Item: "6", Code: "SZZY", Name: "遴选技工教育数字化资源建设与应用优秀院校", Target: 100, Unit: "所", Kind: intent.KindSelection},
		{Item: "7", Code: "JPKC", Name: "遴选技工教育精品在线课程", Target: 500, Unit: "门", Kind: intent.KindSelection},
	}
}

// roundTest drives one round's workflow with time skipping against a real
// event log: the real activities append, and the store stamps each event with
// the test clock, so when an event was recorded is when the workflow acted.
type roundTest struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	store  *events.Store
	params workflows.IntentRoundParams
	acts   *activities.Activities
	start  time.Time
	stages []string // the stage search attribute, as upserted
}

func newRoundTest(t *testing.T, store *events.Store) *roundTest {
	t.Helper()
	if store == nil {
		store = events.NewStore(pgtest.New(t).Pool)
	}
	var s testsuite.WorkflowTestSuite
	rt := &roundTest{t: t, env: newTestEnv(&s)}
	rt.store = events.NewStore(store.Pool(), events.WithClock(rt.env.Now))
	rt.startAt(opened)
	rt.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.IntentRoundWorkflowID("2022-1")})
	rt.acts = &activities.Activities{Store: rt.store}
	workflows.Register(rt.env, rt.acts)
	rt.env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		stage, _ := sa.GetKeyword(workflows.StageKey)
		batch, _ := sa.GetKeyword(workflows.BatchKey)
		if batch != "2022-1" {
			t.Errorf("batch search attribute %q", batch)
		}
		rt.stages = append(rt.stages, stage)
	})
	rt.params = workflows.IntentRoundParams{
		RoundID: "2022-1", BatchID: "2022-1", Items: batch1(), Provinces: []string{"65", "44", "11"},
		Deadline: deadline, ReminderOffsets: []time.Duration{day, 7 * day},
		Actor: ministry, FeedbackPeriod: 30 * day,
	}
	return rt
}

// startAt sets when the workflow starts; call it before scheduling anything.
func (rt *roundTest) startAt(t time.Time) {
	rt.start = t
	rt.env.SetStartTime(t)
}

// outcome is what became of one update.
type outcome struct {
	name               string
	accepted, rejected bool
	completed          bool
	err                error
	result             any
	at                 time.Time
}

// update sends an update at the given instant of simulated time.
func (rt *roundTest) update(at time.Time, name string, arg any) *outcome {
	return rt.updateWithID(at, "", name, arg)
}

func (rt *roundTest) query(at time.Time) *workflows.IntentRoundStatus {
	st := &workflows.IntentRoundStatus{}
	rt.env.RegisterDelayedCallback(func() {
		v, err := rt.env.QueryWorkflow(workflows.QueryIntentRoundStatus)
		if err != nil {
			rt.t.Errorf("query at %s: %v", at, err)
			return
		}
		if err := v.Get(st); err != nil {
			rt.t.Error(err)
		}
	}, at.Sub(rt.start))
	return st
}

func (rt *roundTest) run() {
	rt.t.Helper()
	rt.env.ExecuteWorkflow(workflows.IntentRoundWorkflowName, rt.params)
	if !rt.env.IsWorkflowCompleted() {
		rt.t.Fatal("workflow did not complete")
	}
}

// ok asserts that the update was accepted and completed without error.
func (o *outcome) ok(t *testing.T) {
	t.Helper()
	if !o.accepted || !o.completed || o.err != nil {
		t.Errorf("%s at %s: accepted %v completed %v err %v, want it done", o.name, o.at, o.accepted, o.completed, o.err)
	}
}

// refused asserts that the validator refused the update with a domain error of
// the given kind on field, whose message contains message.
func (o *outcome) refused(t *testing.T, conflict bool, field, message string) {
	t.Helper()
	if !o.rejected || o.accepted {
		t.Errorf("%s at %s: rejected %v accepted %v err %v, want the validator to refuse it", o.name, o.at, o.rejected, o.accepted, o.err)
		return
	}
	// The refusal crosses the wire as a failure; what the API gets back must
	// still name the field in Chinese.
	fc := temporal.GetDefaultFailureConverter()
	err := workflows.DomainError(fc.FailureToError(fc.ErrorToFailure(o.err)))
	var ce *domain.ConflictError
	var fe *domain.FieldError
	switch {
	case conflict && !errors.As(err, &ce):
		t.Errorf("%s: err %#v, want a conflict", o.name, err)
	case !conflict && (errors.As(err, &ce) || !errors.As(err, &fe)):
		t.Errorf("%s: err %#v, want a field error", o.name, err)
	case conflict && (ce.Field != field || !strings.Contains(ce.Message, message)):
		t.Errorf("%s: conflict on %q %q, want %q %q", o.name, ce.Field, ce.Message, field, message)
	case !conflict && (fe.Field != field || !strings.Contains(fe.Message, message)):
		t.Errorf("%s: field error on %q %q, want %q %q", o.name, fe.Field, fe.Message, field, message)
	}
}

func (o *outcome) form(t *testing.T) workflows.FormResult {
	t.Helper()
	switch r := o.result.(type) {
	case workflows.FormResult:
		return r
	case converter.EncodedValue:
		var fr workflows.FormResult
		if err := r.Get(&fr); err != nil {
			t.Fatal(err)
		}
		return fr
	}
	t.Fatalf("%s result %T", o.name, o.result)
	return workflows.FormResult{}
}

func formCmd(province, body string) workflows.FormCommand {
	var in intent.FormInput
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		panic(err)
	}
	return workflows.FormCommand{Province: province, Input: in,
		Actor: events.Metadata{ActorID: "u-" + province, Role: "province", Organisation: province}}
}

const goodForm = `{"lines":[
	{"item":"2.1","undertake":true,"quantity":5,"funds":{"school":"300.5","provincial":1200},"total":"1500.5"},
	{"item":"4","undertake":true,"quantity":2,"funds":{"industry":0.0001}}],"total":1500.5001}`

// recorded is an event as the log holds it.
type recorded struct {
	typ  string
	at   time.Time
	data map[string]any
}

func (rt *roundTest) stream(name string) []recorded {
	rt.t.Helper()
	evs, err := rt.store.ReadStream(context.Background(), name, events.ReadOptions{})
	if err != nil {
		rt.t.Fatal(err)
	}
	out := make([]recorded, len(evs))
	for i, e := range evs {
		out[i] = recorded{typ: e.Type, at: e.RecordedAt}
		if err := json.Unmarshal(e.Data, &out[i].data); err != nil {
			rt.t.Fatal(err)
		}
	}
	return out
}

func types(evs []recorded) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.typ
	}
	return out
}

func wantTypes(t *testing.T, stream string, got []recorded, want ...string) {
	t.Helper()
	if !slices.Equal(types(got), want) {
		t.Errorf("%s holds %v, want %v", stream, types(got), want)
	}
}

// A whole round: drafts, a submission returned and resubmitted, reminders at
// their offsets to those who have not submitted, the deadline, an extension
// and a late submission, filing, feedback, and the end of the round.
func TestIntentRoundLifecycle(t *testing.T) {
	rt := newRoundTest(t, nil)
	h := time.Hour
	draft44 := rt.update(opened.Add(h), workflows.UpdateSaveIntentDraft, formCmd("44", goodForm))
	submit44 := rt.update(opened.Add(2*h), workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	return44 := rt.update(opened.Add(3*h), workflows.UpdateReturnIntent,
		workflows.ReturnCommand{Province: "44", Reason: "2.1 承接数量与学校申报不符", Actor: ministry})
	early := rt.query(opened.Add(3*h + time.Minute))
	resubmit44 := rt.update(opened.Add(4*h), workflows.UpdateSubmitIntent, formCmd("44",
		`{"lines":[{"item":"2.1","undertake":true,"quantity":4,"funds":{"school":"300.5"}}]}`))
	draft11 := rt.update(opened.Add(5*h), workflows.UpdateSaveIntentDraft, formCmd("11", `{"lines":[]}`))
	submit65 := rt.update(deadline.Add(-2*day), workflows.UpdateSubmitIntent, formCmd("65", goodForm))
	extend11 := rt.update(deadline.Add(h), workflows.UpdateExtendProvince,
		workflows.ExtendCommand{Province: "11", Deadline: deadline.Add(3 * day), Actor: ministry})
	closed := rt.query(deadline.Add(2 * h))
	late11 := rt.update(deadline.Add(3*h), workflows.UpdateSubmitIntent, formCmd("11", goodForm))
	file := rt.update(deadline.Add(2*day), workflows.UpdateFileIntentRound, workflows.FileCommand{Actor: ministry})
	fb44 := rt.update(deadline.Add(2*day+h), workflows.UpdateRecordFeedback,
		workflows.FeedbackCommand{Province: "44", Text: "同意备案", Actor: ministry})
	fb11 := rt.update(deadline.Add(2*day+2*h), workflows.UpdateRecordFeedback,
		workflows.FeedbackCommand{Province: "11", Text: "同意备案，请抓紧组织实施", Actor: ministry})
	filed := rt.query(deadline.Add(3 * day))
	rt.run()
	if err := rt.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	for _, o := range []*outcome{draft44, submit44, return44, resubmit44, draft11, submit65, extend11, late11, file, fb44, fb11} {
		o.ok(t)
	}
	if f := draft44.form(t); f.Version != 1 || f.Form.Total != 15005001 || f.Form.Lines[1].Quantity != 5 {
		t.Errorf("draft result %+v", f)
	}
	if f := resubmit44.form(t); f.Version != 4 || f.Form.Total != 3005000 {
		t.Errorf("resubmission result %+v, want version 4 and the revised total", f)
	}

	if early.Stage != "open" || early.Provinces["44"].Status != "returned" || early.Provinces["11"].Status != "none" {
		t.Errorf("status after the return: %+v", early)
	}
	if closed.Stage != "closed" || closed.Provinces["11"].Extension == nil || closed.Provinces["11"].Status != "draft" {
		t.Errorf("status after the deadline: %+v", closed)
	}
	if filed.Stage != "filed" || !filed.Provinces["11"].Late || filed.Provinces["44"].Late || filed.Provinces["44"].Feedbacks != 1 {
		t.Errorf("status after filing: %+v", filed)
	}
	if !slices.Equal(rt.stages, []string{"open", "closed", "filed"}) {
		t.Errorf("stage search attribute went %v", rt.stages)
	}

	round := rt.stream(intent.RoundStream("2022-1"))
	wantTypes(t, "round", round, intent.TypeIntentRoundOpened,
		intent.TypeIntentReminderSent, intent.TypeIntentReminderSent, // 7 days before: 11 and 65
		intent.TypeIntentReminderSent, // 1 day before: 11 only
		intent.TypeIntentRoundClosed, intent.TypeIntentRoundFiled)
	if len(round) == 6 {
		if p := round[0].data["provinces"]; !slices.Equal(strs(p), []string{"11", "44", "65"}) {
			t.Errorf("opened for %v", p)
		}
		for i, want := range []struct {
			province string
			offset   time.Duration
		}{{"11", 7 * day}, {"65", 7 * day}, {"11", day}} {
			e := round[1+i]
			if e.data["province"] != want.province || time.Duration(e.data["offset"].(float64)) != want.offset {
				t.Errorf("reminder %d: %v, want %s %s before", i, e.data, want.province, want.offset)
			}
			if !e.at.Equal(deadline.Add(-want.offset)) {
				t.Errorf("reminder %d sent at %s, want %s", i, e.at.In(cst), deadline.Add(-want.offset))
			}
		}
		if !round[4].at.Equal(deadline) {
			t.Errorf("closed at %s, want the deadline %s", round[4].at.In(cst), deadline)
		}
		if got := round[4].data; !slices.Equal(strs(got["submitted"]), []string{"44", "65"}) || !slices.Equal(strs(got["missing"]), []string{"11"}) {
			t.Errorf("closed %v", got)
		}
	}

	f44 := rt.stream(intent.FormStream("2022-1", "44"))
	wantTypes(t, "44", f44, intent.TypeIntentDraftSaved, intent.TypeIntentSubmitted, intent.TypeIntentReturned,
		intent.TypeIntentSubmitted, intent.TypeIntentFeedbackRecorded)
	f11 := rt.stream(intent.FormStream("2022-1", "11"))
	wantTypes(t, "11", f11, intent.TypeIntentDraftSaved, intent.TypeProvinceDeadlineExtended,
		intent.TypeIntentSubmitted, intent.TypeIntentFeedbackRecorded)
	if len(f11) == 4 && f11[2].data["late"] != true {
		t.Errorf("submission within the extension: %v, want late", f11[2].data)
	}
	if len(f44) == 5 && f44[1].data["late"] != false {
		t.Errorf("on-time submission: %v", f44[1].data)
	}
	wantTypes(t, "65", rt.stream(intent.FormStream("2022-1", "65")), intent.TypeIntentSubmitted)

	// The round completes when the feedback period after filing ends.
	if end := rt.env.Now(); end.Before(file.at.Add(30 * day)) {
		t.Errorf("round completed at %s, before the feedback period ended", end)
	}
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Every illegal move is refused by the validator, reaches the caller as a
// field error or a conflict with a Chinese message, and records nothing.
func TestIntentRoundRefusals(t *testing.T) {
	rt := newRoundTest(t, nil)
	h := time.Hour
	at := opened
	next := func() time.Time { at = at.Add(h); return at }
	type refusal struct {
		o              *outcome
		conflict       bool
		field, message string
	}
	var refusals []refusal
	refuse := func(name string, arg any, conflict bool, field, message string) {
		refusals = append(refusals, refusal{rt.update(next(), name, arg), conflict, field, message})
	}
	fieldErr, conflict := false, true

	refuse(workflows.UpdateSaveIntentDraft, formCmd("44", `{"lines":[{"item":"9","undertake":true}]}`), fieldErr, "lines[0].item", "不在本批次任务目录中")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"funds":{"school":-1}}]}`), fieldErr, "lines[0].funds.school", "学校自筹金额须为非负数，单位万元，最多4位小数")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"funds":{"school":1.23456}}]}`), fieldErr, "lines[0].funds.school", "最多4位小数")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"2.1","quantity":3}]}`), fieldErr, "lines[0].quantity", "未承接")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"5","undertake":true}]}`), fieldErr, "lines[0].quantity", "须填写承接数量")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"1","undertake":true,"quantity":1,"funds":{"school":1},"total":2}]}`), fieldErr, "lines[0].total", "不一致")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", `{"lines":[{"item":"1","undertake":true,"quantity":1,"funds":{"school":1}}],"total":"0.5"}`), fieldErr, "total", "不一致")
	refuse(workflows.UpdateSubmitIntent, formCmd("12", goodForm), fieldErr, "province", "天津市不在本轮")
	refuse(workflows.UpdateSubmitIntent, formCmd("xx", goodForm), fieldErr, "province", "省份代码“xx”不存在")
	refuse(workflows.UpdateReturnIntent, workflows.ReturnCommand{Province: "44", Reason: "x"}, conflict, "", "尚未提交，不能退回")
	refuse(workflows.UpdateFileIntentRound, workflows.FileCommand{}, conflict, "", "尚有 3 个省份未提交")
	refuse(workflows.UpdateRecordFeedback, workflows.FeedbackCommand{Province: "44", Text: "好"}, conflict, "", "汇总备案后方可反馈")
	refuse(workflows.UpdateExtendProvince, workflows.ExtendCommand{Province: "44", Deadline: deadline.Add(-h)}, fieldErr, "deadline", "须晚于本轮截止时间（2022-06-15 00:00）")

	submit := rt.update(next(), workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	refuse(workflows.UpdateSaveIntentDraft, formCmd("44", goodForm), conflict, "", "须经部退回后方可修改")
	refuse(workflows.UpdateSubmitIntent, formCmd("44", goodForm), conflict, "", "须经部退回")
	refuse(workflows.UpdateReturnIntent, workflows.ReturnCommand{Province: "44", Reason: "  "}, fieldErr, "reason", "请填写退回原因")
	extend65 := rt.update(next(), workflows.UpdateExtendProvince, workflows.ExtendCommand{Province: "65", Deadline: deadline.Add(2 * day)})

	// After the deadline: a province without an extension is refused; one with
	// an extension holds the filing back until it submits or its time runs out.
	at = deadline
	refuse(workflows.UpdateSubmitIntent, formCmd("11", goodForm), conflict, "", "已过截止时间（2022-06-15 00:00），未获延期，不能提交")
	refuse(workflows.UpdateSaveIntentDraft, formCmd("11", goodForm), conflict, "", "未获延期")
	refuse(workflows.UpdateFileIntentRound, workflows.FileCommand{}, conflict, "", "新疆维吾尔自治区获准延期至 2022-06-17 00:00，尚未提交")
	at = deadline.Add(2 * day)
	refuse(workflows.UpdateSubmitIntent, formCmd("65", goodForm), conflict, "", "已过延期截止时间（2022-06-17 00:00），不能提交")
	file := rt.update(next(), workflows.UpdateFileIntentRound, workflows.FileCommand{})
	refuse(workflows.UpdateFileIntentRound, workflows.FileCommand{}, conflict, "", "已汇总备案")
	refuse(workflows.UpdateReturnIntent, workflows.ReturnCommand{Province: "44", Reason: "晚了"}, conflict, "", "已汇总备案，不能退回")
	refuse(workflows.UpdateRecordFeedback, workflows.FeedbackCommand{Province: "44", Text: " "}, fieldErr, "text", "请填写反馈意见")
	refuse(workflows.UpdateExtendProvince, workflows.ExtendCommand{Province: "11", Deadline: at.Add(10 * day)}, conflict, "", "不能再延期")

	rt.run()
	if err := rt.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	submit.ok(t)
	extend65.ok(t)
	file.ok(t)
	for _, r := range refusals {
		r.o.refused(t, r.conflict, r.field, r.message)
	}

	// Nothing refused was recorded.
	wantTypes(t, "round", rt.stream(intent.RoundStream("2022-1")), intent.TypeIntentRoundOpened,
		intent.TypeIntentReminderSent, intent.TypeIntentReminderSent, // 7 days before: 11, 65
		intent.TypeIntentReminderSent, intent.TypeIntentReminderSent, // 1 day before: 11, 65
		intent.TypeIntentRoundClosed, intent.TypeIntentRoundFiled)
	wantTypes(t, "44", rt.stream(intent.FormStream("2022-1", "44")), intent.TypeIntentSubmitted)
	wantTypes(t, "65", rt.stream(intent.FormStream("2022-1", "65")), intent.TypeProvinceDeadlineExtended)
	wantTypes(t, "11", rt.stream(intent.FormStream("2022-1", "11")))
}

// A round opened two days before its deadline skips the reminders whose time
// has passed instead of sending them late, and sends none once everybody has
// submitted.
func TestIntentRoundRemindersOnlyAhead(t *testing.T) {
	rt := newRoundTest(t, nil)
	rt.params.Deadline = opened.Add(2 * day)
	rt.params.ReminderOffsets = []time.Duration{7 * day, 36 * time.Hour, 12 * time.Hour}
	rt.params.Provinces = []string{"44", "11"}
	fortyFour := rt.update(opened.Add(time.Hour), workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	eleven := rt.update(opened.Add(13*time.Hour), workflows.UpdateSubmitIntent, formCmd("11", goodForm))
	rt.update(opened.Add(3*day), workflows.UpdateFileIntentRound, workflows.FileCommand{Actor: ministry})
	rt.run()
	fortyFour.ok(t)
	eleven.ok(t)
	round := rt.stream(intent.RoundStream("2022-1"))
	// 36 hours before: only 11 is reminded; 12 hours before: nobody is left.
	wantTypes(t, "round", round, intent.TypeIntentRoundOpened, intent.TypeIntentReminderSent,
		intent.TypeIntentRoundClosed, intent.TypeIntentRoundFiled)
	if len(round) == 4 && (round[1].data["province"] != "11" || !round[1].at.Equal(opened.Add(12*time.Hour))) {
		t.Errorf("reminder %v at %s, want 11 at %s", round[1].data, round[1].at, opened.Add(12*time.Hour))
	}
}

// Parameters the rules refuse fail the workflow before anything is recorded.
func TestIntentRoundRefusesBadParameters(t *testing.T) {
	rt := newRoundTest(t, nil)
	rt.params.Provinces = []string{"44", "99"}
	rt.run()
	var fe *domain.FieldError
	if err := workflows.DomainError(rt.env.GetWorkflowError()); !errors.As(err, &fe) || fe.Field != "provinces[1]" {
		t.Fatalf("workflow error %v, want a field error on provinces[1]", rt.env.GetWorkflowError())
	}
	wantTypes(t, "round", rt.stream(intent.RoundStream("2022-1")))
}

// When the server suggests it, the round continues as new after its running
// updates finish, and the next run goes on where it stopped: same state, same
// stream versions, new event ids.
func TestIntentRoundContinuesAsNew(t *testing.T) {
	store := events.NewStore(pgtest.New(t).Pool)
	first := newRoundTest(t, store)
	draft := first.update(opened.Add(time.Hour), workflows.UpdateSaveIntentDraft, formCmd("44", goodForm))
	// Each append takes ten minutes of workflow time. The suggestion comes
	// while 44's submission is appending, together with 11's draft, which then
	// waits for the lock: the run must let both finish and carry their effect.
	first.env.OnActivity("Append", mock.Anything, mock.Anything).
		Return(func(ctx context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
			return first.acts.Append(ctx, req)
		}).After(10 * time.Minute)
	submit := first.update(opened.Add(2*time.Hour), workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	first.env.RegisterDelayedCallback(func() { first.env.SetContinueAsNewSuggested(true) }, 2*time.Hour+5*time.Minute)
	draft11 := first.update(opened.Add(2*time.Hour+5*time.Minute), workflows.UpdateSaveIntentDraft, formCmd("11", `{"lines":[]}`))
	first.run()
	draft.ok(t)
	submit.ok(t)
	draft11.ok(t)
	var can *workflow.ContinueAsNewError
	if !errors.As(first.env.GetWorkflowError(), &can) {
		t.Fatalf("workflow error %v, want continue-as-new", first.env.GetWorkflowError())
	}
	var next workflows.IntentRoundParams
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if c := next.Carry; c == nil || c.State.Provinces["44"].Status != intent.StatusSubmitted || c.FormVersions["44"] != 2 ||
		c.State.Provinces["11"].Status != intent.StatusDraft || c.Steps["11"] != 1 {
		t.Fatalf("carry %+v", next.Carry)
	}
	if end := first.env.Now(); end.Before(opened.Add(2*time.Hour + 20*time.Minute)) {
		t.Fatalf("continued as new at %s, before the running updates finished", end)
	}

	second := newRoundTest(t, store)
	second.params = next
	second.startAt(opened.Add(3 * time.Hour))
	again := second.update(opened.Add(4*time.Hour), workflows.UpdateSubmitIntent, formCmd("44", goodForm))
	ret := second.update(opened.Add(5*time.Hour), workflows.UpdateReturnIntent, workflows.ReturnCommand{Province: "44", Reason: "请核对"})
	file := second.update(deadline.Add(time.Hour), workflows.UpdateFileIntentRound, workflows.FileCommand{})
	second.env.RegisterDelayedCallback(func() { second.env.CancelWorkflow() }, deadline.Add(2*time.Hour).Sub(second.start))
	second.run()
	again.refused(t, true, "", "须经部退回")
	ret.ok(t)
	file.ok(t)
	wantTypes(t, "44", second.stream(intent.FormStream("2022-1", "44")),
		intent.TypeIntentDraftSaved, intent.TypeIntentSubmitted, intent.TypeIntentReturned)
	wantTypes(t, "11", second.stream(intent.FormStream("2022-1", "11")), intent.TypeIntentDraftSaved)
	round := second.stream(intent.RoundStream("2022-1"))
	if n := len(round); n == 0 || round[0].typ != intent.TypeIntentRoundOpened || round[n-1].typ != intent.TypeIntentRoundFiled {
		t.Errorf("round holds %v: opened once, filed by the second run", types(round))
	}
	if n := len(slices.DeleteFunc(types(round), func(s string) bool { return s != intent.TypeIntentRoundOpened })); n != 1 {
		t.Error("the second run opened the round again")
	}
}
