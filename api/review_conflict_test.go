package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keytask/api"
	"keytask/domain/selection"
)

// TestDeclaredConflictBarsScoring: an expert assigned to a school's
// application who then declares a conflict with that school has the score
// refused, naming the conflict, and the review page shows the application as
// one to recuse from, without a score field.
func TestDeclaredConflictBarsScoring(t *testing.T) {
	e := newEnv(t)
	f := newMatrixFixture(e)
	e1 := e.register(`{"user_id":"e1","name":"专家甲","role":"expert","organisation":"某大学"}`)
	want(t, e.do("POST", "/api/v1/experts", e.adminToken,
		`{"expert_id":"e1","name":"专家甲","expertise":{"YZYX":3},"load":5}`), http.StatusCreated, "")
	e.project()
	ctx := context.Background()
	a := f.sides[0]
	score := `{"scores":[{"application":"` + a["id"] + `","criteria":[10]}]}`
	stream := selection.SelectionBatchStream("b1")
	before, err := e.store.StreamVersion(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}

	if err := api.SetPassword(ctx, e.d.Pool, "e1", "足够长的测试密码0001"); err != nil {
		t.Fatal(err)
	}
	b := e.browser("10.9.0.5")
	if rec := b.login("e1", "足够长的测试密码0001"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	page := b.do("GET", "/web/selection-batches/b1/review", nil).Body.String()
	if !strings.Contains(page, "<legend>"+a["id"]) {
		t.Fatalf("before any conflict the review form lacks the assigned application: %s", page)
	}

	// The expert declares a conflict with side A's school after the assignment.
	want(t, e.do("PUT", "/api/v1/experts/e1", e.adminToken,
		`{"name":"专家甲","expertise":{"YZYX":3},"load":5,"conflict_schools":["11-001"]}`), http.StatusOK, "")

	res := e.do("POST", "/api/v1/selection-batches/b1/scores", e1, score)
	want(t, res, http.StatusUnprocessableEntity, "scores[0].application")
	if msg := res.str("error"); !strings.Contains(msg, "回避") || !strings.Contains(msg, "11-001") {
		t.Fatalf("refusal %q does not name the declared conflict", msg)
	}
	page = b.do("GET", "/web/selection-batches/b1/review", nil).Body.String()
	if strings.Contains(page, "<legend>"+a["id"]) || !strings.Contains(page, "须回避的申报") || !strings.Contains(page, "本人申报回避") {
		t.Fatalf("the review page still offers the conflicted application: %s", page)
	}
	token := csrfInput.FindStringSubmatch(page)[1]
	rec := b.do("POST", "/web/selection-batches/b1/review", map[string][]string{"csrf_token": {token}, "score_" + a["id"] + "_": {"10"}})
	if rec.Code != http.StatusNotFound && rec.Code != http.StatusForbidden {
		t.Fatalf("the review form naming the conflicted application: %d", rec.Code)
	}
	if after, err := e.store.StreamVersion(ctx, stream); err != nil || after != before {
		t.Fatalf("batch stream %d → %d, %v", before, after, err)
	}
}
