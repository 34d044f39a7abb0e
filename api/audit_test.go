package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"keytask/events"
	"keytask/projections"
)

// auditInstant is the API's live read models at one moment.
type auditInstant struct {
	position int64
	at       time.Time
	users    string // digest of the users model
	timeline string // digest of the timeline
}

func (e *env) captureLive() auditInstant {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.project()
	if err := e.store.SealCommitted(ctx); err != nil {
		e.t.Fatal(err)
	}
	h, err := e.store.Head(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	in := auditInstant{position: h.Position}
	if in.users, err = projections.Digest(ctx, e.d.Pool, projections.Users{}); err != nil {
		e.t.Fatal(err)
	}
	if in.timeline, err = projections.Digest(ctx, e.d.Pool, projections.NewTimeline()); err != nil {
		e.t.Fatal(err)
	}
	in.at = time.Now()
	time.Sleep(5 * time.Millisecond)
	return in
}

func digestsOf(t *testing.T, res response) map[string]any {
	t.Helper()
	d, ok := res.json["digests"].(map[string]any)
	if !ok {
		t.Fatalf("no digests in %s", res.Body.String())
	}
	return d
}

// The auditor's replay as of an instant equals the live read models captured
// then; only the ministry and auditors may ask.
func TestAuditReplayAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	auditor := e.register(`{"user_id":"audit","name":"审计员","role":"auditor","organisation":"审计署"}`)
	province := e.register(`{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`)
	first := e.captureLive()
	e.register(`{"user_id":"sa","name":"北京技师学院","role":"school","organisation":"11-001"}`)
	second := e.captureLive()
	if first.users == second.users {
		t.Fatal("the users model did not change between the instants")
	}

	for _, tc := range []struct {
		asOf string
		want auditInstant
	}{
		{fmt.Sprint(first.position), first},
		{first.at.Format(time.RFC3339Nano), first},
		{fmt.Sprint(second.position), second},
		{second.at.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339Nano), second},
	} {
		res := e.do("GET", "/api/v1/audit/replay?as_of="+url.QueryEscape(tc.asOf), auditor, "")
		want(t, res, http.StatusOK, "")
		d := digestsOf(t, res)
		if d["users"] != tc.want.users || d["timeline"] != tc.want.timeline || int64(res.json["position"].(float64)) != tc.want.position {
			t.Errorf("as of %s: position %v, users %v timeline %v; live was %d, %s, %s", tc.asOf, res.json["position"],
				d["users"], d["timeline"], tc.want.position, tc.want.users, tc.want.timeline)
		}
		if len(d) != len(projections.All()) {
			t.Errorf("as of %s: %d digests, want every projection's", tc.asOf, len(d))
		}
	}

	// A table's rows as they stood.
	res := e.do("GET", fmt.Sprintf("/api/v1/audit/replay?as_of=%d&table=users&limit=1", first.position), auditor, "")
	want(t, res, http.StatusOK, "")
	tbl := res.json["table"].(map[string]any)
	if tbl["count"].(float64) != 3 || len(tbl["rows"].([]any)) != 1 {
		t.Errorf("users as of the first instant: %v", tbl)
	}

	res = e.do("GET", fmt.Sprintf("/api/v1/audit/diff?from=%d&to=%d", first.position, second.position), e.adminToken, "")
	want(t, res, http.StatusOK, "")
	changed, _ := res.json["changed"].([]any)
	if !slices.Contains(changed, any("users")) || !slices.Contains(changed, any("timeline")) {
		t.Errorf("diff changed = %v", changed)
	}

	// Scope: a province may not replay history; bad instants name the field.
	if res := e.do("GET", "/api/v1/audit/replay?as_of=1", province, ""); res.Code != http.StatusForbidden && res.Code != http.StatusNotFound {
		t.Errorf("province replay: %d", res.Code)
	}
	want(t, e.do("GET", "/api/v1/audit/replay?as_of=yesterday", auditor, ""), http.StatusBadRequest, "as_of")
	want(t, e.do("GET", "/api/v1/audit/replay", auditor, ""), http.StatusBadRequest, "as_of")
	want(t, e.do("GET", fmt.Sprintf("/api/v1/audit/replay?as_of=%d", second.position+100), auditor, ""), http.StatusBadRequest, "as_of")
	want(t, e.do("GET", "/api/v1/audit/replay?as_of=1&table=events", auditor, ""), http.StatusBadRequest, "table")
	want(t, e.do("GET", fmt.Sprintf("/api/v1/audit/diff?from=%d&to=1", second.position), auditor, ""), http.StatusBadRequest, "to")
}

// Open collections export their deadline, expected and received submissions;
// closed ones disappear.
func TestCollectionMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	n := 0
	add := func(stream, typ, data string) {
		t.Helper()
		n++
		if _, err := e.store.Append(ctx, stream, events.AnyVersion, events.NewEvent{ID: events.DeriveID("metrics-test", fmt.Sprint(n)),
			Type: typ, SchemaVersion: 1, Data: json.RawMessage(data), Metadata: events.Metadata{ActorID: "admin", Role: "ministry"}}); err != nil {
			t.Fatal(err)
		}
	}
	add("performance-collection-2026", "PerformanceCollectionOpened", `{"year":2026,"deadline":"2026-12-31T10:00:00+08:00","projects":4}`)
	add("performance-report-2026-b1.a1", "PerformanceReportSubmitted", `{}`)
	add("performance-report-2026-b1.a1", "PerformanceReportSubmitted", `{}`) // resubmitted: still one report
	add("performance-report-2026-b1.a2", "PerformanceReportDraftSaved", `{}`)
	add("intent-round-r1", "IntentRoundOpened", `{"round_id":"r1","provinces":["11","12","13"],"deadline":"2026-06-15T10:00:00+08:00"}`)
	add("intent-form-r1-11", "IntentSubmitted", `{}`)
	add("intent-round-r0", "IntentRoundOpened", `{"round_id":"r0","provinces":["11"],"deadline":"2025-06-15T10:00:00+08:00"}`)
	add("intent-round-r0", "IntentRoundClosed", `{"round_id":"r0"}`)

	res := e.do("GET", "/metrics", "", "")
	body := res.Body.String()
	for _, line := range []string{
		`keytask_collection_deadline_timestamp_seconds{collection="performance-2026"} 1.7986824e+09`,
		`keytask_collection_expected_submissions{collection="performance-2026"} 4`,
		`keytask_collection_submissions{collection="performance-2026"} 1`,
		`keytask_collection_expected_submissions{collection="intent-r1"} 3`,
		`keytask_collection_submissions{collection="intent-r1"} 1`,
	} {
		if !strings.Contains(body, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if strings.Contains(body, `collection="intent-r0"`) {
		t.Error("a closed round is still exported")
	}
}
