package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"keytask/domain/performance"
	"keytask/events"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

// The ministry extends a year's collection through the API and the real
// workflow: bad input and refused extensions answer naming the field and
// record nothing; an extension moves the deadline of the workflow, the read
// model and the collection metric; a retry with the same key records nothing
// more.
func TestPerformanceExtendWithTemporal(t *testing.T) {
	t.Parallel()
	e, c := newTemporalEnv(t)
	bj, _, _ := e.users()
	ctx := context.Background()
	shanghai := time.FixedZone("CST", 8*3600)
	const day = 24 * time.Hour

	year, deadline, collection := openThisYearsCollection(t, e, c)
	base := "/api/v1/performance/" + strconv.Itoa(year)
	stream := performance.CollectionStream(year)
	if c := collection(); !c.Deadline.Equal(deadline) {
		t.Fatalf("opened with deadline %s, want %s", c.Deadline, deadline)
	}

	local := func(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }
	body := func(deadline string) string {
		return jsonBody(t, map[string]string{"deadline": deadline, "reason": "部分学校数据核对中"})
	}
	t.Run("RefusalsRecordNothing", func(t *testing.T) {
		want(t, e.do("POST", base+"/extend", e.adminToken, `{"deadline":"明天"}`), http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("POST", base+"/extend", e.adminToken, `{}`), http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("POST", base+"/extend", e.adminToken, `{"deadline":"`+local(deadline.Add(day))+`","colour":1}`), http.StatusBadRequest, "colour")
		want(t, e.do("POST", base+"/extend", e.adminToken, `{"deadline":1}`), http.StatusBadRequest, "deadline")
		// Earlier than the current deadline: the workflow's rule refuses it.
		want(t, e.do("POST", base+"/extend", e.adminToken, body(local(deadline.Add(-2*time.Minute)))), http.StatusUnprocessableEntity, "deadline")
		want(t, e.do("POST", base+"/extend", e.adminToken, body(strconv.Itoa(year+2)+"-01-01 00:00")), http.StatusUnprocessableEntity, "deadline")
		res := e.do("POST", base+"/extend", bj, body(local(deadline.Add(day))))
		if res.Code != http.StatusForbidden {
			t.Fatalf("a province extended: %d %s", res.Code, res.Body)
		}
		if res := e.do("POST", "/api/v1/performance/2099/extend", e.adminToken, body("2099-12-31 18:00")); res.Code != http.StatusNotFound {
			t.Fatalf("a year without collection: %d %s", res.Code, res.Body)
		}
		evs, err := e.store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == performance.TypeCollectionDeadlineExtended {
				t.Fatalf("a refused extension recorded %s", ev.Data)
			}
		}
	})

	to := deadline.Add(2 * day).Truncate(time.Minute)
	t.Run("Extend", func(t *testing.T) {
		res := e.do("POST", base+"/extend", e.adminToken, body(local(to)), "Idempotency-Key", "extend-1")
		want(t, res, http.StatusOK, "")
		if got, err := time.Parse(time.RFC3339, res.str("deadline")); err != nil || !got.Equal(to) || res.json["year"] != float64(year) {
			t.Fatalf("answer %s, want the deadline %s", res.Body, to)
		}
		want(t, e.do("POST", base+"/extend", e.adminToken, body(local(to)), "Idempotency-Key", "extend-1"), http.StatusOK, "")
		evs, err := e.store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Type == performance.TypeCollectionDeadlineExtended {
				n++
				if ev.Metadata.ActorID != "admin" || !strings.Contains(string(ev.Data), "部分学校数据核对中") {
					t.Errorf("extension %s by %q", ev.Data, ev.Metadata.ActorID)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d extensions recorded, want 1", n)
		}
		if c := collection(); !c.Deadline.Equal(to) {
			t.Fatalf("read model deadline %s, want %s", c.Deadline, to)
		}
		v, err := c.QueryWorkflow(ctx, workflows.PerformanceCollectionWorkflowID(year), "", workflows.QueryPerformanceCollection)
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.PerformanceCollectionStatus
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if !st.Deadline.Equal(to) || !st.CloseAt.Equal(to.Add(workflows.DefaultCollectionCloseAfter)) {
			t.Fatalf("workflow deadline %s close %s", st.Deadline, st.CloseAt)
		}
		// The open collection's metric shows the deadline that now holds.
		metric := `keytask_collection_deadline_timestamp_seconds{collection="performance-` + strconv.Itoa(year) + `"} `
		body := e.do("GET", "/metrics", "", "").Body.String()
		i := strings.Index(body, metric)
		if i < 0 {
			t.Fatalf("/metrics lacks %s", metric)
		}
		line, _, _ := strings.Cut(body[i+len(metric):], "\n")
		if f, err := strconv.ParseFloat(line, 64); err != nil || int64(f) != to.Unix() {
			t.Fatalf("metric %s, want %d", line, to.Unix())
		}
	})
}

// openThisYearsCollection starts this year's collection on the real workflow,
// its deadline an hour away, and waits until the read model holds it.
// collection rebuilds the read model and reads the year's row.
func openThisYearsCollection(t *testing.T, e *env, c client.Client) (year int, deadline time.Time, collection func() projections.PerformanceCollectionRow) {
	t.Helper()
	ctx := context.Background()
	opens := time.Now().Truncate(time.Second)
	year = opens.In(time.FixedZone("CST", 8*3600)).Year()
	id := workflows.PerformanceCollectionWorkflowID(year)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalx.TaskQueue}, workflows.PerformanceCollectionWorkflowName,
		workflows.PerformanceCollectionParams{OpensAt: opens, DeadlineAfter: time.Hour, ReminderOffsets: []time.Duration{30 * time.Minute},
			Actor: events.Metadata{ActorID: "admin", Role: "ministry"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), id, run.GetRunID(), "test over") })
	collection = func() projections.PerformanceCollectionRow {
		t.Helper()
		if _, err := projections.Rebuild(ctx, e.d.Pool, e.store, projections.Performance{}, nil); err != nil {
			t.Fatal(err)
		}
		row, err := projections.PerformanceCollection(ctx, e.d.Pool, year)
		if err != nil && !projections.IsPerformanceNotFound(err) {
			t.Fatal(err)
		}
		return row
	}
	e.eventually(30*time.Second, "collection opened", func() bool { return collection().Year == year })
	return year, opens.Add(time.Hour), collection
}
