package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
)

// The objector of the fixture's objection: no one but the ministry may see them.
const (
	objectorName    = "王某某"
	objectorContact = "13800138000"
)

// selectedBatch is a batch taken through to publication: two applications
// that tie on every score, so rule 4 (the earlier submission) decides who is
// inside a quota of one; an objection against the first is dismissed.
type selectedBatch struct {
	u      selectionUsers
	batch  string
	a, b   string // application ids; a is selected
	step   int
	stream string
}

func (e *env) batchEvent(sb *selectedBatch, typ string, payload any) {
	e.t.Helper()
	data, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	sb.step++
	if _, err := e.store.Append(context.Background(), sb.stream, events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("audit-test", sb.batch, fmt.Sprint(sb.step)), Type: typ, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry", Organisation: "MOHRSS",
			WorkflowID: "selection-batch-" + sb.batch, CorrelationID: fmt.Sprintf("corr-%d", sb.step)},
	}); err != nil {
		e.t.Fatal(err)
	}
}

// selectionThroughNotice records everything up to the objection's outcome; publish
// finishes the batch.
func (e *env) selectionThroughNotice() *selectedBatch {
	e.t.Helper()
	sb := &selectedBatch{u: e.selectionUsers(), batch: "2022-yzyx"}
	sb.stream = selection.SelectionBatchStream(sb.batch)
	e.openSelectionBatch(sb.batch, "2.1", "YZYX")
	for i, tok := range []string{sb.u.schoolA, sb.u.schoolB} {
		province := []string{"11", "12"}[i]
		res := e.do("POST", "/api/v1/applications", tok, fmt.Sprintf(`{"batch_id":%q,"title":"优质校申报","province":%q}`, sb.batch, province),
			"Idempotency-Key", "app-"+province)
		want(e.t, res, http.StatusCreated, "")
		if i == 0 {
			sb.a = res.str("application_id")
		} else {
			sb.b = res.str("application_id")
		}
	}
	e.batchEvent(sb, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{sb.a}})
	e.batchEvent(sb, selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "12", Applications: []string{sb.b}})
	e.batchEvent(sb, selection.TypeQualificationDecided, selection.QualificationDecided{Decisions: []selection.QualificationDecision{
		{Application: sb.a, Outcome: selection.Passed}, {Application: sb.b, Outcome: selection.Passed}}})
	e.batchEvent(sb, selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1,
		Assignments:  []selection.ExpertAssignment{{Application: sb.a, Experts: []string{"e1", "e2"}}, {Application: sb.b, Experts: []string{"e1", "e2"}}},
		Explanations: [][]string{{"专长匹配（3级）", "专长匹配（2级）"}, {"专长匹配（3级）", "专长匹配（2级）"}}})
	marks := map[string][]int{"e1": {50, 30}, "e2": {40, 20}}
	for _, ex := range []string{"e1", "e2"} {
		e.batchEvent(sb, selection.TypeScoresSubmitted, selection.ScoresSubmitted{Expert: ex, Scores: []selection.ApplicationScores{
			{Application: sb.a, Criteria: marks[ex]}, {Application: sb.b, Criteria: marks[ex]}}})
	}
	rubric := scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{
		{Key: "plan", Name: "建设方案", Weight: 60, Max: 60}, {Key: "effect", Name: "预期成效", Weight: 40, Max: 40}}}
	t0 := time.Date(2022, 7, 1, 9, 0, 0, 0, time.UTC)
	var apps []scoring.Application
	for i, id := range []string{sb.a, sb.b} {
		app := scoring.Application{ID: id, Submitted: t0.Add(time.Duration(i) * time.Hour)}
		for _, ex := range []string{"e1", "e2"} {
			app.Reviews = append(app.Reviews, scoring.Review{Expert: ex, Scores: scoring.Scores{Criteria: marks[ex]}})
		}
		apps = append(apps, app)
	}
	ranking, err := scoring.Rank(rubric, apps, scoring.Options{Quota: 1, OutlierThreshold: 30})
	if err != nil {
		e.t.Fatal(err)
	}
	e.batchEvent(sb, selection.TypeRankingProposed, selection.RankingProposed{Round: 1, Selected: []string{sb.a}, Ranking: ranking})
	e.batchEvent(sb, selection.TypeRankingConfirmed, selection.RankingConfirmed{Round: 1, Selected: []string{sb.a}})
	e.batchEvent(sb, selection.TypeObjectionFiled, selection.ObjectionFiled{ObjectionID: "obj-1", Application: sb.a,
		Name: objectorName, Contact: objectorContact, Text: "申报材料中在校生人数与实际不符"})
	e.batchEvent(sb, selection.TypeObjectionAdjudicated, selection.ObjectionAdjudicated{ObjectionID: "obj-1", Application: sb.a,
		Outcome: selection.Dismissed, Reason: "经核实，人数属实"})
	return sb
}

func (e *env) publish(sb *selectedBatch) {
	e.t.Helper()
	e.batchEvent(sb, selection.TypeSelectionBatchPublished, selection.SelectionBatchPublished{List: []string{sb.a}})
	data, _ := json.Marshal(selection.ProjectCreated{ProjectID: selection.ProjectID(sb.batch, sb.a), BatchID: sb.batch,
		TaskItem: "2.1", TaskType: "YZYX", Application: sb.a, Province: "11", Rank: 1})
	if _, err := e.store.Append(context.Background(), selection.ProjectStream(selection.ProjectID(sb.batch, sb.a)), events.NoStream, events.NewEvent{
		ID: events.DeriveID("audit-test", "project"), Type: selection.TypeProjectCreated, SchemaVersion: 1, Data: data,
		Metadata: events.Metadata{ActorID: "admin", Role: "ministry", WorkflowID: "selection-batch-" + sb.batch},
	}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SealCommitted(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

type historyBody struct {
	Entries []struct {
		Position      int64           `json:"position"`
		StreamID      string          `json:"stream_id"`
		Type          string          `json:"type"`
		ActorID       string          `json:"actor_id"`
		Role          string          `json:"role"`
		Organisation  string          `json:"organisation"`
		WorkflowID    string          `json:"workflow_id"`
		CorrelationID string          `json:"correlation_id"`
		Data          json.RawMessage `json:"data"`
		Redacted      bool            `json:"redacted"`
	} `json:"entries"`
}

func (e *env) history(path, token string) (historyBody, response) {
	e.t.Helper()
	res := e.do("GET", path, token, "")
	want(e.t, res, http.StatusOK, "")
	var h historyBody
	if err := json.Unmarshal(res.Body.Bytes(), &h); err != nil {
		e.t.Fatal(err)
	}
	return h, res
}

func TestStreamHistoryAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sb := e.selectionThroughNotice()
	e.publish(sb)
	auditor := sb.u.auditor

	h, res := e.history("/api/v1/audit/history/application/"+sb.a, auditor)
	types := map[string]int{}
	var last int64
	for _, en := range h.Entries {
		types[en.Type]++
		if en.Position <= last {
			t.Fatalf("history not in log order: position %d after %d", en.Position, last)
		}
		last = en.Position
		if en.Type == selection.TypeObjectionFiled && (!en.Redacted || !strings.Contains(string(en.Data), "已隐去")) {
			t.Errorf("objection shown to an auditor: %s", en.Data)
		}
		if en.StreamID == sb.stream && (en.WorkflowID == "" || en.CorrelationID == "" || en.Role != "ministry") {
			t.Errorf("batch event lacks its context: %+v", en)
		}
	}
	for _, typ := range []string{selection.TypeApplicationCreated, selection.TypeApplicationsRecommended, selection.TypeQualificationDecided,
		selection.TypeExpertsAssigned, selection.TypeRankingProposed, selection.TypeObjectionFiled, selection.TypeObjectionAdjudicated,
		selection.TypeSelectionBatchPublished, selection.TypeProjectCreated} {
		if types[typ] == 0 {
			t.Errorf("the application's history lacks %s: %v", typ, types)
		}
	}
	if types[selection.TypeScoresSubmitted] != 2 || types[selection.TypeApplicationsRecommended] != 1 {
		t.Errorf("history picked events of the other application: %v", types)
	}
	if strings.Contains(res.Body.String(), objectorName) || strings.Contains(res.Body.String(), objectorContact) {
		t.Fatal("the objector's identity reached an auditor")
	}
	// The ministry sees who objected.
	_, res = e.history("/api/v1/audit/history/application/"+sb.a, e.adminToken)
	if !strings.Contains(res.Body.String(), objectorName) {
		t.Error("the ministry does not see the objector")
	}

	hb, _ := e.history("/api/v1/audit/history/batch/"+sb.batch, auditor)
	created := 0
	for _, en := range hb.Entries {
		if en.Type == selection.TypeApplicationCreated {
			created++
		}
	}
	if created != 2 || len(hb.Entries) <= len(h.Entries) {
		t.Errorf("batch history: %d applications created, %d events", created, len(hb.Entries))
	}
	hp, _ := e.history("/api/v1/audit/history/province/12", auditor)
	for _, en := range hp.Entries {
		if strings.Contains(en.StreamID, sb.a) {
			t.Errorf("province 12's history holds Beijing's %s", en.StreamID)
		}
	}
	if len(hp.Entries) < 2 {
		t.Errorf("province 12's history: %d events", len(hp.Entries))
	}
	hj, _ := e.history("/api/v1/audit/history/project/"+selection.ProjectID(sb.batch, sb.a), auditor)
	if len(hj.Entries) != 1 || hj.Entries[0].Type != selection.TypeProjectCreated {
		t.Errorf("project history: %+v", hj.Entries)
	}

	// JSON Lines: one parseable event per line, the same events.
	res = e.do("GET", "/api/v1/audit/history/application/"+sb.a+"?format=jsonl", auditor, "")
	want(t, res, http.StatusOK, "")
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(res.Body.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["type"] != h.Entries[lines].Type {
			t.Fatalf("line %d: %s (%v)", lines+1, sc.Text(), err)
		}
		lines++
	}
	if lines != len(h.Entries) || strings.Contains(res.Body.String(), objectorName) {
		t.Errorf("jsonl: %d lines for %d events", lines, len(h.Entries))
	}

	// The workbook: a title, a header, one row per event.
	res = e.do("GET", "/api/v1/audit/history/application/"+sb.a+"?format=xlsx", auditor, "")
	want(t, res, http.StatusOK, "")
	f, err := excelize.OpenReader(bytes.NewReader(res.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.GetRows("事件历史")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3+len(h.Entries) || !strings.Contains(rows[0][0], "申报事件历史") || rows[2][5] != "操作人" {
		t.Fatalf("workbook rows: %d, want %d; %v", len(rows), 3+len(h.Entries), rows[:3])
	}
	if rows[3][6] != "技工院校" || rows[3][7] != "11-001" {
		t.Errorf("first event row: %v", rows[3])
	}
	for _, r := range rows {
		for _, c := range r {
			if strings.Contains(c, objectorName) {
				t.Fatal("the objector's identity reached the workbook")
			}
		}
	}

	want(t, e.do("GET", "/api/v1/audit/history/school/11-001", auditor, ""), http.StatusBadRequest, "kind")
	want(t, e.do("GET", "/api/v1/audit/history/batch/x?format=csv", auditor, ""), http.StatusBadRequest, "format")
	if res := e.do("GET", "/api/v1/audit/history/province/11", sb.u.bj, ""); res.Code != http.StatusForbidden && res.Code != http.StatusNotFound {
		t.Errorf("a province reading audit history: %d", res.Code)
	}
}

func TestExplanationAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sb := e.selectionThroughNotice()
	path := func(app string) string { return "/api/v1/applications/" + app + "/explanation" }

	// Nothing to explain before publication.
	want(t, e.do("GET", path(sb.a), sb.u.auditor, ""), http.StatusNotFound, "")
	e.publish(sb)

	type explanation struct {
		Published     bool   `json:"published"`
		PublishedRank int    `json:"published_rank"`
		TieBreak      string `json:"tie_break"`
		Ranking       struct {
			Rank      int    `json:"rank"`
			DecidedBy string `json:"decided_by"`
			Mean      string `json:"mean"`
			Selected  bool   `json:"selected"`
		} `json:"ranking"`
		Cut *struct {
			LastIn    string `json:"last_in"`
			FirstOut  string `json:"first_out"`
			DecidedBy string `json:"decided_by"`
		} `json:"cut"`
		Experts []struct {
			Expert   string `json:"expert"`
			Why      string `json:"why"`
			Criteria []int  `json:"criteria"`
			Total    string `json:"total"`
		} `json:"experts"`
		Objections []struct {
			Name, Contact, Outcome, Reason string
		} `json:"objections"`
		Sources []int64 `json:"sources"`
	}
	get := func(app, token string) (explanation, string) {
		t.Helper()
		res := e.do("GET", path(app), token, "")
		want(t, res, http.StatusOK, "")
		var x explanation
		if err := json.Unmarshal(res.Body.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		return x, res.Body.String()
	}

	b, _ := get(sb.b, sb.u.auditor)
	if b.Published || b.Ranking.Rank != 2 || b.Ranking.Selected || b.Ranking.DecidedBy != string(scoring.RuleSubmitted) ||
		!strings.Contains(b.TieBreak, "规则4") || b.Cut == nil || b.Cut.FirstOut != sb.b || b.Cut.DecidedBy != string(scoring.RuleSubmitted) {
		t.Errorf("why B was not selected: %+v", b)
	}
	if len(b.Experts) != 2 || b.Experts[0].Expert != "e1" || fmt.Sprint(b.Experts[0].Criteria) != "[50 30]" || b.Experts[0].Total != "80" ||
		b.Experts[1].Why != "专长匹配（2级）" || b.Ranking.Mean != "70" {
		t.Errorf("B's experts and scores: %+v mean %s", b.Experts, b.Ranking.Mean)
	}
	if len(b.Objections) != 0 || len(b.Sources) == 0 {
		t.Errorf("B: objections %+v sources %v", b.Objections, b.Sources)
	}

	// A: published first; its dismissed objection shown without the objector,
	// to the auditor and to the school itself; the ministry sees who it was.
	for _, tok := range []string{sb.u.auditor, sb.u.schoolA, sb.u.bj} {
		a, body := get(sb.a, tok)
		if !a.Published || a.PublishedRank != 1 || a.Ranking.Rank != 1 || len(a.Objections) != 1 || a.Objections[0].Outcome != "dismissed" ||
			a.Objections[0].Reason == "" {
			t.Errorf("A: %+v", a)
		}
		if strings.Contains(body, objectorName) || strings.Contains(body, objectorContact) || a.Objections[0].Name != "（已隐去）" {
			t.Errorf("the objector's identity reached a reader who is not ministry staff: %s", body)
		}
	}
	a, _ := get(sb.a, e.adminToken)
	if len(a.Objections) != 1 || a.Objections[0].Name != objectorName || a.Objections[0].Contact != objectorContact {
		t.Errorf("the ministry's view of the objection: %+v", a.Objections)
	}
	// Another province's school does not even learn the explanation exists.
	if res := e.do("GET", path(sb.a), sb.u.schoolB, ""); res.Code != http.StatusNotFound {
		t.Errorf("another school: %d", res.Code)
	}
}
