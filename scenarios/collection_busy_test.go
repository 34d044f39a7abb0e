package scenarios_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/api"
	"keytask/domain/identity"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/temporalx"
	"keytask/workflows"
)

// Every school drafts and submits at once while the collection handles only
// three updates per run: runs keep reaching their bound, refusing commands as
// busy and continuing as new, and the API sends each refused command again.
// Every request succeeds, every report records its draft and submission
// exactly once, and the read model shows them all submitted. A request that
// ends while its command is still refused as busy gets 503 with a message in
// Chinese, and records nothing.
func TestPerformanceCollectionBusyRunsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a collection on a real Temporal server")
	}
	const perRun = 3
	p := startPlatformWith(t, workflows.Options{CollectionUpdatesPerRun: perRun})
	ctx := context.Background()
	handler := api.New(api.Config{Pool: p.d.Pool, Store: p.store, Temporal: p.tc}).Handler()
	hs := httptest.NewServer(handler)
	t.Cleanup(hs.Close)
	adminToken, _, err := api.SeedAdmin(ctx, p.store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	admin := httpClient{t, hs.URL, adminToken}
	waitFor(t, "administrator projected", 3*time.Minute, func() bool { return admin.do("GET", "/api/v1/me", nil, nil) == http.StatusOK })

	ministry := events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation}
	add := func(stream, typ string, md events.Metadata, data any) {
		t.Helper()
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.store.Append(ctx, stream, events.AnyVersion, events.NewEvent{ID: events.DeriveID("scenario", stream, typ),
			Type: typ, SchemaVersion: 1, Data: b, Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 36
	var projects []scenarioProject
	for i := range n {
		pr := scenarioProject{school: fmt.Sprintf("sch%02d", i), province: []string{"11", "31", "44", "51"}[i%4], taskType: "YZYX", active: true}
		app := fmt.Sprintf("app%02d", i)
		pr.id = selection.ProjectID("b-busy", app)
		add(selection.ApplicationStream(app), selection.TypeApplicationCreated, ministry, selection.ApplicationCreated{ApplicationID: app,
			BatchID: "b-busy", TaskType: pr.taskType, School: pr.school, Province: pr.province, Title: "项目" + app})
		add(selection.ProjectStream(pr.id), selection.TypeProjectCreated, ministry, selection.ProjectCreated{ProjectID: pr.id,
			BatchID: "b-busy", TaskType: pr.taskType, Application: app, Province: pr.province, Rank: i + 1})
		projects = append(projects, pr)
	}
	schools := map[string]httpClient{}
	for _, pr := range projects {
		if admin.do("POST", "/api/v1/users", map[string]string{"user_id": "u-" + pr.school, "name": pr.school + "学校", "role": "school", "organisation": pr.school}, nil) != http.StatusCreated {
			t.Fatal("register school")
		}
		schools[pr.school] = httpClient{t, hs.URL, userToken(t, p.store, "u-"+pr.school)}
	}
	waitFor(t, "schools projected", 3*time.Minute, func() bool {
		for _, c := range schools {
			if c.do("GET", "/api/v1/me", nil, nil) != http.StatusOK {
				return false
			}
		}
		return true
	})

	// This year's collection, with a deadline far enough away that only the
	// schools' commands move it.
	year := time.Now().In(time.FixedZone("CST", 8*3600)).Year()
	collectionID := workflows.PerformanceCollectionWorkflowID(year)
	run, err := p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: collectionID, TaskQueue: temporalx.TaskQueue},
		workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{OpensAt: time.Now(), DeadlineAfter: 2 * time.Hour,
			ReminderOffsets: []time.Duration{time.Hour}, CloseAfter: time.Hour, Actor: ministry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.tc.TerminateWorkflow(context.Background(), collectionID, "", "test over") })
	waitFor(t, "every report opened", 3*time.Minute, func() bool {
		v, err := p.tc.QueryWorkflow(ctx, collectionID, "", workflows.QueryPerformanceCollection)
		var st workflows.PerformanceCollectionStatus
		return err == nil && v.Get(&st) == nil && len(st.Reports) == n
	})

	// All schools at once: a draft, then the submission.
	base := fmt.Sprintf("/api/v1/performance/%d", year)
	type answer struct {
		project, what string
		status        int
	}
	rng := rand.New(rand.NewPCG(3, 2026))
	inputs := map[string]performance.ReportInput{}
	for _, pr := range projects {
		inputs[pr.id] = genReport(rng, pr.taskType)
	}
	answers := make(chan answer, 2*n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, pr := range projects {
		wg.Go(func() {
			c := schools[pr.school]
			path := base + "/reports/" + pr.id
			<-start
			answers <- answer{pr.id, "draft", c.do("PUT", path+"/draft", performance.ReportInput{Summary: "草稿"}, nil)}
			answers <- answer{pr.id, "submit", c.do("POST", path+"/submit", inputs[pr.id], nil)}
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	close(answers)
	t.Logf("%d commands answered in %s", 2*n, time.Since(began))
	for a := range answers {
		if a.status != http.StatusOK {
			t.Errorf("%s %s: %d, want 200", a.what, a.project, a.status)
		}
	}

	// Each report's draft and submission are in the log exactly once.
	for _, pr := range projects {
		evs, err := p.store.ReadStream(ctx, performance.ReportStream(year, pr.id), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Type)
		}
		if want := []string{performance.TypeReportOpened, performance.TypeReportDraftSaved, performance.TypeReportSubmitted}; !slices.Equal(got, want) {
			t.Errorf("%s's stream %v, want %v", pr.id, got, want)
		}
	}

	// The chain of runs, first to current: with three updates a run, the
	// 72 commands took many.
	runs := 1
	for runID := run.GetRunID(); ; runs++ {
		it := p.tc.GetWorkflowHistory(ctx, collectionID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
		if !it.HasNext() {
			break // the current run is open
		}
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		can := ev.GetWorkflowExecutionContinuedAsNewEventAttributes()
		if can == nil {
			t.Fatalf("run %d (%s) closed with %s, want continued as new", runs, runID, ev.GetEventType())
		}
		runID = can.GetNewExecutionRunId()
	}
	t.Logf("%d runs", runs)
	if min := 2 * n / perRun / 3; runs < min {
		t.Errorf("%d runs for %d commands at %d a run, want at least %d", runs, 2*n, perRun, min)
	}

	// The read model shows every report submitted, and the workflow agrees.
	waitFor(t, "read model caught up", 3*time.Minute, func() bool {
		var list struct{ Reports []projectionsRow }
		if admin.do("GET", base+"/reports", nil, &list) != http.StatusOK || len(list.Reports) != n {
			return false
		}
		for _, r := range list.Reports {
			if r.Status != performance.StatusSubmitted || r.Submissions != 1 {
				return false
			}
		}
		return true
	})
	v, err := p.tc.QueryWorkflow(ctx, collectionID, "", workflows.QueryPerformanceCollection)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.PerformanceCollectionStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	for _, pr := range projects {
		if st.Reports[pr.id].Status != performance.StatusSubmitted {
			t.Errorf("%s is %s in the workflow", pr.id, st.Reports[pr.id].Status)
		}
	}

	busyUntilTheRequestEnds(t, p, handler, projects[0], schools[projects[0].school].token, year-1)
}

// projectionsRow is the part of a listed report the test reads.
type projectionsRow struct {
	ProjectID   string             `json:"project_id"`
	Status      performance.Status `json:"status"`
	Submissions int                `json:"submissions"`
}

// alwaysBusyWorkflow stands in for a collection that is forever about to
// continue as new: it refuses every submission as busy.
func alwaysBusyWorkflow(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, workflows.UpdateSubmitReport,
		func(workflow.Context, workflows.ReportCommand) (workflows.ReportResult, error) {
			return workflows.ReportResult{}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(workflow.Context, workflows.ReportCommand) error {
			return workflows.BusyError("always about to continue as new")
		}}); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return false })
}

// busyUntilTheRequestEnds sends a submission to a year whose collection
// always answers busy, through a server that ends each request after a
// moment: the API keeps sending it until then and answers 503.
func busyUntilTheRequestEnds(t *testing.T, p *platform, handler http.Handler, pr scenarioProject, token string, year int) {
	t.Helper()
	ctx := context.Background()
	const busyID, queue = "performance-collection-always-busy", "always-busy"
	w := worker.New(p.tc, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(alwaysBusyWorkflow, workflow.RegisterOptions{Name: "AlwaysBusy"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if _, err := p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: busyID, TaskQueue: queue}, "AlwaysBusy"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.tc.TerminateWorkflow(context.Background(), busyID, "", "test over") })
	// The year's log says the busy workflow opened it, which is how the API
	// finds the workflow a report command goes to.
	deadline := time.Now().Add(time.Hour)
	opener := events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation, WorkflowID: busyID}
	for stream, ev := range map[string]struct {
		typ  string
		data any
	}{
		performance.CollectionStream(year): {performance.TypeCollectionOpened, performance.CollectionOpened{Year: year, Deadline: deadline, ReminderOffsets: []time.Duration{time.Minute}, Projects: 1}},
		performance.ReportStream(year, pr.id): {performance.TypeReportOpened, performance.ReportOpened{Year: year, ProjectID: pr.id, BatchID: "b-busy",
			TaskType: pr.taskType, School: pr.school, Province: pr.province, Deadline: deadline}},
	} {
		b, err := json.Marshal(ev.data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.store.Append(ctx, stream, events.NoStream, events.NewEvent{ID: events.DeriveID("scenario", stream, ev.typ),
			Type: ev.typ, SchemaVersion: 1, Data: b, Metadata: opener}); err != nil {
			t.Fatal(err)
		}
	}

	const lifetime = 2 * time.Second
	ending := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), lifetime)
		defer cancel()
		handler.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(ending.Close)
	school := httpClient{t, ending.URL, token}
	began := time.Now()
	var body struct{ Error, Field string }
	st := school.doErr("POST", fmt.Sprintf("/api/v1/performance/%d/reports/%s/submit", year, pr.id), genReport(rand.New(rand.NewPCG(4, 2026)), pr.taskType), &body)
	took := time.Since(began)
	if st != http.StatusServiceUnavailable || body.Error != "工作流服务暂不可用，请稍后重试" {
		t.Errorf("a submission refused as busy until the request ended: %d %+v, want 503 with the message in Chinese", st, body)
	}
	if took < lifetime {
		t.Errorf("answered after %s, before the request ended at %s", took, lifetime)
	}
	if v, err := p.store.StreamVersion(ctx, performance.ReportStream(year, pr.id)); err != nil || v != 1 {
		t.Errorf("the busy submission moved the report to version %d (%v)", v, err)
	}
}
