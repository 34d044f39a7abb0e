package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

// seedNotice records a batch on notice, with an objection, as its workflow would.
func (e *env) seedNotice(id string) {
	e.t.Helper()
	n := 0
	add := func(typ string, p any, role string) {
		n++
		b, _ := json.Marshal(p)
		if _, err := e.store.Append(context.Background(), selection.SelectionBatchStream(id), events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("test-notice", id, typ, string(rune('a'+n))), Type: typ, SchemaVersion: 1, Data: b,
			Metadata: events.Metadata{ActorID: role, Role: role},
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	end := time.Now().Add(72 * time.Hour)
	add(selection.TypeSelectionBatchOpened, selection.SelectionBatchOpened{BatchID: id, TaskItem: "2.1", TaskType: "YZYX", Quota: 2,
		ProvinceQuotas: map[string]int{"11": 2}, Deadline: end}, "ministry")
	add(selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{"a1", "a2"}}, "province")
	add(selection.TypeStageAdvanced, selection.StageAdvanced{From: selection.StageExpertReview, To: selection.StageNotice, Deadline: end,
		Notice: &selection.NoticePeriod{Start: time.Now(), End: end, WorkingDays: 5, List: []string{"a2", "a1"}}}, "ministry")
	add(selection.TypeObjectionFiled, selection.ObjectionFiled{ObjectionID: "o1", Application: "a1", Name: "欧阳异议人", Contact: "13812345678", Text: "材料不实"}, "public")
	e.projectAll()
	e.projectSelection()
	if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, projections.SelectionBatches{}, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestPublicNoticeHidesObjector(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, _, auditor := e.users()
	e.seedNotice("b1")

	page := e.get("/public/notices/b1")
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "公示期") || !strings.Contains(page.Body.String(), "a2") {
		t.Fatalf("notice %d %s", page.Code, page.Body)
	}
	if strings.Contains(page.Body.String(), "欧阳异议人") || strings.Contains(page.Body.String(), "13812345678") {
		t.Fatal("the public notice shows the objector")
	}
	if e.get("/public/notices/nope").Code != http.StatusNotFound {
		t.Fatal("notice of a batch that does not exist")
	}
	ministry := e.do("GET", "/api/v1/selection-batches/b1", e.adminToken, "")
	want(t, ministry, http.StatusOK, "")
	if !strings.Contains(ministry.Body.String(), "欧阳异议人") {
		t.Fatalf("ministry view lacks the objector: %s", ministry.Body)
	}
	audit := e.do("GET", "/api/v1/selection-batches/b1", auditor, "")
	want(t, audit, http.StatusOK, "")
	if strings.Contains(audit.Body.String(), "欧阳异议人") {
		t.Fatal("the auditor sees the objector")
	}

	// Strict validation answers the page with field errors in Chinese and sends nothing.
	form := url.Values{"name": {""}, "contact": {"abc"}, "id_card": {"123"}, "application": {"zz"}, "text": {""}}
	req := httptest.NewRequest("POST", "/public/notices/b1/objections", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("objection %d %s", rec.Code, body)
	}
	for _, msg := range []string{"实名", "联系方式应为", "身份证号码应为", "不在公示名单", "异议内容"} {
		if !strings.Contains(body, msg) {
			t.Fatalf("no %q in %s", msg, body)
		}
	}
	if e.get("/public/publications/b1").Code != http.StatusNotFound {
		t.Fatal("published list before publication")
	}
}

// The objection form carries a token that makes it idempotent: a fresh one
// on every fresh form, the same one when the form comes back with errors
// (nothing was filed from it).
func TestObjectionFormToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seedNotice("b1")
	token := regexp.MustCompile(`name="form_token" value="([^"]+)"`)
	first := token.FindStringSubmatch(e.get("/public/notices/b1").Body.String())
	second := token.FindStringSubmatch(e.get("/public/notices/b1").Body.String())
	if first == nil || second == nil || first[1] == second[1] {
		t.Fatalf("form tokens %v and %v", first, second)
	}
	form := url.Values{"name": {"张三"}, "contact": {"abc"}, "application": {"a1"}, "text": {"材料不实"}, "form_token": {first[1]}}
	req := httptest.NewRequest("POST", "/public/notices/b1/objections", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	again := token.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusUnprocessableEntity || again == nil || again[1] != first[1] {
		t.Fatalf("form with errors: %d, token %v, want %s", rec.Code, again, first[1])
	}
}
