package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/domain/identity"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/workflows"
)

// scaleCmd is one update of the national run, delivered at its moment.
type scaleCmd struct {
	at   time.Time
	name string
	arg  func() any
	o    *outcome
}

// scaleRun is what one run of the workflow cost.
type scaleRun struct {
	updates, refused, activities, timers, upserts, appended int
	carryBytes                                              int
}

// historyEstimate bounds the run's history from what it did: the start (two
// events and a workflow task), per accepted update UpdateAccepted and
// UpdateCompleted plus a workflow task, per activity its three events plus the
// workflow task its completion wakes, per timer TimerStarted and its firing or
// cancelling plus a workflow task, per search-attribute upsert one event, and
// the closing event. The test environment does not keep a history, so this is
// an upper bound rather than a count.
func (r scaleRun) historyEstimate() int {
	return 5 + 5*r.updates + 6*r.activities + 5*r.timers + r.upserts + 1
}

// A national batch — 6,000 applications from 32 provinces, 1,000 experts —
// through every stage with the real workflow logic; the activities are mocked
// with compact results (they are tested against the log elsewhere). Each run
// of the workflow must stay far below Temporal's 50,000-event history limit
// and continue as new after its bound of updates.
func TestSelectionBatchNationalScale(t *testing.T) {
	if testing.Short() {
		t.Skip("national-scale run")
	}
	const (
		nApps, nProvinces, nExperts, perApp, quota = 6000, 32, 1000, 3, 600
		qualifyChunk, nReturned                    = 500, 12
	)
	provinces := slices.Sorted(maps.Keys(identity.Provinces))[:nProvinces]
	byProvince := map[string][]string{}
	facts := map[string]selection.ApplicationFacts{}
	var apps []string
	for i := range nApps {
		p := provinces[i%nProvinces]
		id := fmt.Sprintf("app-%s-%04d", p, i)
		byProvince[p] = append(byProvince[p], id)
		facts[id] = selection.ApplicationFacts{ID: id, Exists: true, Status: selection.StatusSubmitted, Province: p, TaskItem: "2.1"}
		apps = append(apps, id)
	}
	slices.Sort(apps)
	quotas := map[string]int{}
	for p, ids := range byProvince {
		quotas[p] = len(ids)
	}
	// The deterministic assignment the mocked solver returns: three distinct
	// experts per application, 18 applications per expert.
	expertsOf := func(i int) []string {
		return []string{fmt.Sprintf("e%04d", (perApp*i)%nExperts), fmt.Sprintf("e%04d", (perApp*i+1)%nExperts), fmt.Sprintf("e%04d", (perApp*i+2)%nExperts)}
	}
	scoresOf := map[string][]selection.ApplicationScores{}
	for i, id := range apps {
		for _, e := range expertsOf(i) {
			scoresOf[e] = append(scoresOf[e], selection.ApplicationScores{Application: id, Criteria: []int{30 + i%30, 20 + i%20}})
		}
	}

	start := selStart
	params := workflows.SelectionBatchParams{Actor: ministry, Batch: selection.SelectionBatchOpened{
		BatchID: "national", PlanBatchID: "2022-1", TaskItem: "2.1", TaskType: "YZYX", Quota: quota,
		ProvinceQuotas: quotas, PerApplication: perApp,
		Periods: map[selection.Stage]time.Duration{selection.StageQualification: 10 * day, selection.StageExpertReview: 10 * day},
		Rubric: scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{
			{Key: "base", Name: "建设基础", Weight: 60, Max: 60}, {Key: "plan", Name: "建设方案", Weight: 40, Max: 40}}},
		Deadline: start.Add(2 * day),
	}}

	// The commands, a minute apart.
	var cmds []*scaleCmd
	next := start
	add := func(name string, arg func() any) *outcome {
		next = next.Add(time.Minute)
		c := &scaleCmd{at: next, name: name, arg: arg, o: &outcome{name: name}}
		cmds = append(cmds, c)
		return c.o
	}
	S, Q, E, N := selection.StageRecommendation, selection.StageQualification, selection.StageExpertReview, selection.StageNotice
	for _, p := range provinces {
		add(workflows.UpdateRecommendApplications, val(workflows.RecommendCommand{Province: p, Applications: byProvince[p],
			Actor: workflowsProvince(p)}))
	}
	add(workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: S, To: Q, Actor: ministry}))
	for i := 0; i < nApps; i += qualifyChunk {
		var ds []selection.QualificationDecision
		for j, id := range apps[i:min(i+qualifyChunk, nApps)] {
			d := selection.QualificationDecision{Application: id, Outcome: selection.Passed}
			if i == 0 && j < nReturned {
				d = selection.QualificationDecision{Application: id, Outcome: selection.Returned, Reason: "缺少佐证材料"}
			}
			ds = append(ds, d)
		}
		add(workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: ds, Actor: ministry}))
	}
	var again []selection.QualificationDecision
	for _, id := range apps[:nReturned] {
		add(workflows.UpdateResubmitCorrection, val(workflows.ResubmitCommand{Application: id}))
		again = append(again, selection.QualificationDecision{Application: id, Outcome: selection.Passed})
	}
	add(workflows.UpdateDecideQualification, val(workflows.QualifyCommand{Decisions: again, Actor: ministry}))
	add(workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: Q, To: E, Actor: ministry}))
	assigned := add(workflows.UpdateAssignExperts, val(workflows.AssignCommand{Actor: ministry}))
	for _, e := range slices.Sorted(maps.Keys(scoresOf)) {
		add(workflows.UpdateSubmitScores, val(workflows.ScoresCommand{Expert: e, Scores: scoresOf[e], DeclareNoConflict: true}))
	}
	rank := add(workflows.UpdateProposeRanking, val(workflows.RankCommand{Actor: ministry}))
	confirm := add(workflows.UpdateConfirmRanking, func() any {
		return workflows.ConfirmRankingCommand{Round: decode[workflows.RankResult](t, rank).Round, Actor: ministry}
	})
	add(workflows.UpdateAdvanceStage, val(workflows.AdvanceCommand{From: E, To: N, Actor: ministry}))
	next = next.Add(20 * day) // after the notice
	publish := add(workflows.UpdatePublishSelection, val(workflows.PublishCommand{Actor: ministry}))

	var (
		runs      []scaleRun
		published []string
		returned  []string
		pending   = cmds
	)
	for len(runs) < 20 {
		var run scaleRun
		var s testsuite.WorkflowTestSuite
		env := newTestEnv(&s)
		env.SetStartTime(start)
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.SelectionBatchWorkflowID("national")})
		a := &activities.Activities{}
		workflows.Register(env, a)
		env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(mock.Arguments) { run.upserts++ })
		env.SetOnTimerScheduledListener(func(string, time.Duration) { run.timers++ })
		env.OnActivity(a.Append, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
			run.activities++
			run.appended += len(req.Events)
			var out activities.AppendResult
			for i := range req.Events {
				out.Versions = append(out.Versions, req.Expected+int64(i)+1)
			}
			return out, nil
		})
		env.OnActivity(a.ReadApplicationFacts, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.ApplicationFactsRequest) ([]selection.ApplicationFacts, error) {
			run.activities++
			out := make([]selection.ApplicationFacts, len(req.Applications))
			for i, id := range req.Applications {
				out[i] = facts[id]
			}
			return out, nil
		})
		env.OnActivity(a.ReturnApplications, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.ReturnApplicationsRequest) (activities.ReturnApplicationsResult, error) {
			run.activities++
			var out activities.ReturnApplicationsResult
			for _, d := range req.Decisions {
				out.Returned = append(out.Returned, d.Application)
			}
			returned = append(returned, out.Returned...)
			return out, nil
		})
		env.OnActivity(a.AssignSelectionExperts, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.AssignExpertsRequest) (activities.AssignExpertsResult, error) {
			run.activities++
			out := activities.AssignExpertsResult{Version: req.Expected + int64((len(req.Applications)+199)/200)}
			for _, id := range req.Applications {
				out.Assignments = append(out.Assignments, selection.ExpertAssignment{Application: id, Experts: expertsOf(slices.Index(apps, id))})
			}
			return out, nil
		})
		env.OnActivity(a.RankSelection, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.RankSelectionRequest) (activities.RankSelectionResult, error) {
			run.activities++
			return activities.RankSelectionResult{Selected: req.Applications[:req.Quota], Version: req.Expected + 1}, nil
		})
		env.OnActivity(a.PublishSelection, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.PublishSelectionRequest) (activities.AppendResult, error) {
			run.activities++
			published = req.Published.List
			return activities.AppendResult{Versions: []int64{req.Expected + 1}}, nil
		})

		// One callback at a time, each registering the next: the environment
		// holds only about a thousand pending callbacks.
		last := start
		var deliver func(i int)
		deliver = func(i int) {
			if i >= len(pending) {
				return
			}
			c := pending[i]
			env.RegisterDelayedCallback(func() {
				o := c.o
				o.at = env.Now()
				last = c.at
				env.UpdateWorkflow(c.name, "", &testsuite.TestUpdateCallback{
					OnAccept:   func() { o.accepted = true; run.updates++ },
					OnReject:   func(err error) { o.rejected, o.err = true, err; run.refused++ },
					OnComplete: func(res any, err error) { o.completed, o.result, o.err = true, res, err },
				}, c.arg())
				deliver(i + 1)
			}, c.at.Sub(env.Now()))
		}
		deliver(0)
		env.ExecuteWorkflow(workflows.SelectionBatchWorkflowName, params)
		if !env.IsWorkflowCompleted() {
			t.Fatalf("run %d did not complete", len(runs)+1)
		}
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			if err != nil {
				t.Fatalf("run %d: %v", len(runs)+1, err)
			}
			runs = append(runs, run)
			break
		}
		// Carry on as the server would: the next run gets the carried
		// parameters, decoded from the payload, and the commands not yet handled.
		next := workflows.SelectionBatchParams{}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			t.Fatal(err)
		}
		if next.Carry == nil {
			t.Fatalf("run %d continued as new without a carry", len(runs)+1)
		}
		b, _ := json.Marshal(next)
		run.carryBytes = len(b)
		runs = append(runs, run)
		params, start = next, last
		var rest []*scaleCmd
		for _, c := range pending {
			if !c.o.completed && !c.o.rejected {
				if c.o.accepted {
					t.Fatalf("%s was accepted but not completed when run %d continued as new", c.name, len(runs))
				}
				rest = append(rest, c)
			}
		}
		pending = rest
	}

	total, maxHistory := 0, 0
	for i, r := range runs {
		total += r.updates
		maxHistory = max(maxHistory, r.historyEstimate())
		t.Logf("run %d: %d updates accepted (%d refused), %d activities, %d timers, %d upserts, %d events appended; history ≤ %d events; carry %d bytes",
			i+1, r.updates, r.refused, r.activities, r.timers, r.upserts, r.appended, r.historyEstimate(), r.carryBytes)
		if r.historyEstimate() >= 10_000 {
			t.Errorf("run %d: history estimate %d, want far below 50,000", i+1, r.historyEstimate())
		}
		if r.carryBytes > 256<<10 {
			t.Errorf("run %d: carry of %d bytes, want well below the 512 KB at which Temporal warns of a large payload", i+1, r.carryBytes)
		}
	}
	t.Logf("%d commands, %d runs, at most %d history events per run", len(cmds), len(runs), maxHistory)
	for _, c := range cmds {
		if !c.o.completed || c.o.err != nil {
			t.Fatalf("%s at %s: accepted %v rejected %v completed %v err %v", c.name, c.o.at, c.o.accepted, c.o.rejected, c.o.completed, c.o.err)
		}
	}
	// Every update counts toward the bound of 300 per run, so the run continues
	// as new after updates 300, 600 and 900 and the fourth run publishes.
	if want := (len(cmds) + 299) / 300; len(runs) != want || total != len(cmds) {
		t.Errorf("%d runs handling %d updates, want %d runs handling %d", len(runs), total, want, len(cmds))
	}
	if r := decode[workflows.AssignResult](t, assigned); r.Applications != nApps || r.Experts != nExperts {
		t.Errorf("assignment %+v", r)
	}
	confirm.ok(t)
	publish.ok(t)
	if len(published) != quota || len(returned) != nReturned {
		t.Errorf("published %d, returned %d; want %d and %d", len(published), len(returned), quota, nReturned)
	}
}

func workflowsProvince(p string) events.Metadata {
	return events.Metadata{ActorID: "u-" + p, Role: "province", Organisation: p}
}
