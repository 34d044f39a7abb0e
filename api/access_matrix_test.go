package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"keytask/api"
	"keytask/domain/development"
	"keytask/domain/identity"
	"keytask/domain/performance"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
)

// The access matrix: every registered route, decided for every role on both
// sides of a scope boundary (province 11 / 12, school A / B, assigned expert /
// other expert). Columns, in order:
//
//	M  ministry        Au auditor
//	PA province 11     PB province 12
//	SA school of 11    SB school of 12
//	EA expert assigned to A's application   EB expert assigned to B's
//	Ev evaluator
//
// Each cell is O (allowed), F (forbidden, 403) or N (out of scope, 404). The
// path names side A's resources (province 11, school A's application and
// attachment, bj's account). A route missing from this table fails the test,
// so a new route needs a decision here.
var accessMatrix = map[string]string{
	"GET /api/v1/me":                                                         "OOOOOOOOO",
	"GET /api/v1/users":                                                      "OOFFFFFFF",
	"POST /api/v1/users":                                                     "OFFFFFFFF",
	"PUT /api/v1/users/{user}/password":                                      "OFFFFFFFF",
	"POST /api/v1/tokens":                                                    "OOOOOOOOO", // each makes their own, never another's
	"GET /api/v1/tokens":                                                     "OOOOOOOOO",
	"POST /api/v1/tokens/{token}/rotate":                                     "OOOOOOOOO",
	"DELETE /api/v1/tokens/{token}":                                          "OOOOOOOOO",
	"GET /api/v1/users/{user}/tokens":                                        "OFFFFFFFF",
	"DELETE /api/v1/users/{user}/tokens/{token}":                             "OFFFFFFFF",
	"GET /api/v1/streams/{stream}/timeline":                                  "OOOFFFFFF", // user-bj: bj reads their own stream
	"POST /api/v1/plan-batches":                                              "OFFFFFFFF",
	"POST /api/v1/plan-batches/{batch}/items":                                "OFFFFFFFF",
	"GET /api/v1/plan-batches/{batch}":                                       "OOOOOOOOO", // the catalogue is public
	"PUT /api/v1/liaison-deadline":                                           "OFFFFFFFF",
	"PUT /api/v1/provinces/{province}/liaison":                               "OFONFFFFF",
	"GET /api/v1/liaisons":                                                   "OOFFFFFFF",
	"POST /api/v1/intent-rounds":                                             "OFFFFFFFF",
	"GET /api/v1/intent-rounds/{round}":                                      "OOFFFFFFF",
	"POST /api/v1/intent-rounds/{round}/file":                                "OFFFFFFFF",
	"GET /api/v1/intent-rounds/{round}/summary":                              "OOFFFFFFF",
	"GET /api/v1/intent-rounds/{round}/summary.xlsx":                         "OOFFFFFFF",
	"GET /api/v1/intent-rounds/{round}/missing":                              "OOFFFFFFF",
	"PUT /api/v1/intent-rounds/{round}/provinces/{province}/draft":           "FFONFFFFF", // a declaration: only its province writes it
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/submit":         "FFONFFFFF",
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/return":         "OFFFFFFFF",
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/extend":         "OFFFFFFFF",
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/feedback":       "OFFFFFFFF",
	"GET /api/v1/intent-rounds/{round}/provinces/{province}/form":            "OOONFFFFF",
	"GET /api/v1/intent-rounds/{round}/provinces/{province}/form/history":    "OOONFFFFF",
	"GET /api/v1/intent-rounds/{round}/provinces/{province}/form.xlsx":       "OOONFFFFF",
	"GET /api/v1/intent-rounds/{round}/provinces/{province}/form/print":      "OOONFFFFF",
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/letter":         "FFONFFFFF", // the province records its own 厅函
	"POST /api/v1/intent-rounds/{round}/provinces/{province}/letter/arrived": "OFFFFFFFF", // only the ministry receives it
	"GET /api/v1/intent-rounds/{round}/provinces/{province}/letter/scan":     "OOONFFFFF",
	// Filing and listing applications: the resource is the caller's own, so the
	// policy lets each scoped role through and the handler keeps to its scope.
	"POST /api/v1/applications":                                                "FFOOOOFFF",
	"GET /api/v1/applications":                                                 "OOOOOOFFF",
	"GET /api/v1/applications/{id}":                                            "OOONONFFF", // experts read applications through their review pages
	"PUT /api/v1/applications/{id}":                                            "FFFFONFFF", // the school's own declaration: not even its province edits it
	"POST /api/v1/applications/{id}/attachments":                               "FFFFONFFF",
	"POST /api/v1/applications/{id}/submit":                                    "FFFFONFFF",
	"GET /api/v1/attachments/{sha256}":                                         "OOONONFFF",
	"POST /api/v1/experts":                                                     "OFFFFFFFF",
	"PUT /api/v1/experts/{expert}":                                             "OFFFFFFFF",
	"GET /api/v1/experts":                                                      "OOFFFFFFF",
	"POST /api/v1/schools":                                                     "OFFFFFFFF",
	"GET /api/v1/schools":                                                      "OOOOOOOOO", // the register of official names is read by all
	"GET /api/v1/schools/{code}":                                               "OOOOOOOOO",
	"PUT /api/v1/schools/{code}":                                               "OFFFFFFFF",
	"GET /api/v1/imports/{sheet}/template.xlsx":                                "OOFFFFFFF",
	"POST /api/v1/imports/{sheet}/dry-run":                                     "OFFFFFFFF",
	"POST /api/v1/imports/{sheet}":                                             "OFFFFFFFF",
	"POST /api/v1/selection-batches":                                           "OFFFFFFFF",
	"GET /api/v1/selection-batches/{batch}":                                    "OOOOFFFFF", // every province reads the batch; the handler shows each only its own
	"POST /api/v1/selection-batches/{batch}/provinces/{province}/recommend":    "FFONFFFFF",
	"POST /api/v1/selection-batches/{batch}/quota":                             "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/qualify":                           "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/advance":                           "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/reopen":                            "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/extend":                            "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/assign":                            "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/rank":                              "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/replace":                           "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/confirm":                           "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/overrule":                          "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/applications/{id}/consensus":       "OFFFFFONF",
	"POST /api/v1/selection-batches/{batch}/objections/{objection}/adjudicate": "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/publish":                           "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/scores":                            "OFFFFFOOF",
	"POST /api/v1/selection-batches/{batch}/declarations":                      "OFFFFFOOF",
	"POST /api/v1/selection-batches/{batch}/decline":                           "OFFFFFOOF",
	"GET /api/v1/applications/{id}/explanation":                                "OOONONFFF",
	"GET /api/v1/applications/{id}/evaluation":                                 "OOONONFFF",
	"GET /api/v1/audit/diff":                                                   "OOFFFFFFF",
	"GET /api/v1/audit/history/{kind}/{id}":                                    "OOFFFFFFF",
	"GET /api/v1/audit/replay":                                                 "OOFFFFFFF",
	"GET /api/v1/inbox":                                                        "OOOOOOOOO", // each reads their own
	"POST /api/v1/inbox/read":                                                  "OOOOOOOOO",
	"POST /api/v1/inbox/{id}/read":                                             "OOOOOOOOO",
	"PUT /api/v1/inbox/email":                                                  "OOOOOOOOO",
	"GET /api/v1/performance/{year}":                                           "OOFFFFFFF",
	"POST /api/v1/performance/{year}/extend":                                   "OFFFFFFFF",
	"GET /api/v1/performance/{year}/reports":                                   "OOOOOOFFF", // the handler keeps each to its scope
	"GET /api/v1/performance/{year}/reports/{project}":                         "OOONONFFF",
	"GET /api/v1/performance/{year}/rollups":                                   "OOOOOOFFF",
	"GET /api/v1/performance/{year}/rollups.xlsx":                              "OOOOOOFFF",
	"PUT /api/v1/performance/{year}/reports/{project}/draft":                   "FFFFONFFF", // a declaration: only its school writes it
	"POST /api/v1/performance/{year}/reports/{project}/submit":                 "FFFFONFFF",
	"POST /api/v1/performance/{year}/reports/{project}/return":                 "OFFFFFFFF",
	"POST /api/v1/performance/{year}/reports/{project}/lock":                   "OFFFFFFFF",
	"GET /api/v1/progress":                                                     "OOOOFFFFF", // a province reads its own, the handler keeps it there
	"GET /api/v1/progress.xlsx":                                                "OOOOFFFFF",
	"GET /api/v1/projects":                                                     "OOOOOOFFO", // the handler keeps each to its scope
	"GET /api/v1/projects/overdue":                                             "OOOOOOFFO", // the handler keeps each to its scope
	"GET /api/v1/projects/{project}":                                           "OOONONFFN", // the evaluator is assigned to neither side
	"GET /api/v1/projects/{project}/timeline":                                  "OOONONFFN",
	"POST /api/v1/projects/{project}/evaluators":                               "OFFFFFFFF",
	"POST /api/v1/projects/{project}/evaluations":                              "OFFFFFFFN",
	"POST /api/v1/projects/{project}/inspections":                              "OFFFFFFFF",
	"POST /api/v1/projects/{project}/inspections/{inspection}/findings":        "OFFFFFFFF",
	"POST /api/v1/projects/{project}/flag":                                     "OFFFFFFFF",
	"POST /api/v1/projects/{project}/rectified":                                "OFFFFFFFF",
	"POST /api/v1/projects/{project}/revoke":                                   "OFFFFFFFF",
	"POST /api/v1/development-projects":                                        "OFFFFFFFF",
	"GET /api/v1/development-projects/{devproject}":                            "OOONONFFN",
	"POST /api/v1/development-projects/{devproject}/milestones":                "OFFFFFFFF",
	"POST /api/v1/projects/{project}/accept":                                   "OFFFFFFFF",
	"POST /api/v1/selection-batches/{batch}/applications/{id}/resubmit":        "FFFFONFFF",
	"POST /logout":                                                          "OOOOOOOOO",
	"GET /account/password":                                                 "OOOOOOOOO",
	"POST /account/password":                                                "OOOOOOOOO",
	"GET /account/tokens":                                                   "OOOOOOOOO",
	"POST /account/tokens":                                                  "OOOOOOOOO",
	"POST /account/tokens/{token}/rotate":                                   "OOOOOOOOO",
	"POST /account/tokens/{token}/revoke":                                   "OOOOOOOOO",
	"GET /web/dashboard":                                                    "OOOOFFFFF",
	"GET /web/{$}":                                                          "OOOOOOOOO",
	"GET /web/intent-rounds/{round}":                                        "OOFFFFFFF",
	"GET /web/intent-rounds/{round}/summary":                                "OOFFFFFFF",
	"GET /web/intent-rounds/{round}/provinces/{province}":                   "OOONFFFFF",
	"POST /web/intent-rounds/{round}/provinces/{province}":                  "FFONFFFFF",
	"POST /web/intent-rounds/{round}/provinces/{province}/return":           "OFFFFFFFF",
	"POST /web/intent-rounds/{round}/provinces/{province}/letter":           "FFONFFFFF",
	"POST /web/intent-rounds/{round}/provinces/{province}/letter/arrived":   "OFFFFFFFF",
	"GET /web/applications":                                                 "OOOOOOFFF",
	"POST /web/applications":                                                "FFOOOOFFF",
	"GET /web/applications/{id}":                                            "OOONONFFF",
	"POST /web/applications/{id}":                                           "FFFFONFFF",
	"POST /web/applications/{id}/attachments":                               "FFFFONFFF",
	"POST /web/applications/{id}/submit":                                    "FFFFONFFF",
	"GET /web/selection-batches/{batch}":                                    "OOFFFFFFF",
	"POST /web/selection-batches/{batch}/advance":                           "OFFFFFFFF",
	"POST /web/selection-batches/{batch}/assign":                            "OFFFFFFFF",
	"POST /web/selection-batches/{batch}/rank":                              "OFFFFFFFF",
	"POST /web/selection-batches/{batch}/confirm":                           "OFFFFFFFF",
	"POST /web/selection-batches/{batch}/objections/{objection}/adjudicate": "OFFFFFFFF",
	"POST /web/selection-batches/{batch}/publish":                           "OFFFFFFFF",
	"GET /web/selection-batches/{batch}/qualification":                      "OOFFFFFFF",
	"POST /web/selection-batches/{batch}/qualify":                           "OFFFFFFFF",
	"GET /web/selection-batches/{batch}/provinces/{province}/recommend":     "OOONFFFFF",
	"POST /web/selection-batches/{batch}/provinces/{province}/recommend":    "FFONFFFFF",
	"GET /web/selection-batches/{batch}/review":                             "OOFFFFOON", // the batch's assigned experts; each application is decided again
	"POST /web/selection-batches/{batch}/review":                            "OFFFFFOOF",
	"GET /web/audit/{$}":                                                    "OOFFFFFFF",
	"GET /web/audit/replay":                                                 "OOFFFFFFF",
	"GET /web/audit/diff":                                                   "OOFFFFFFF",
	"GET /web/audit/history":                                                "OOFFFFFFF",
	"GET /web/applications/{id}/explanation":                                "OOONONFFF", // as the API decides
	"GET /web/applications/{id}/evaluation":                                 "OOONONFFF", // as the API decides
	"GET /web/performance/{year}":                                           "OOOOOOFFF", // the handler keeps each to its scope
	"POST /web/performance/{year}/extend":                                   "OFFFFFFFF",
	"GET /web/performance/{year}/reports/{project}":                         "OOONONFFF",
	"POST /web/performance/{year}/reports/{project}":                        "FFFFONFFF", // a declaration: only its school writes it
	"POST /web/performance/{year}/reports/{project}/return":                 "OFFFFFFFF",
	"POST /web/performance/{year}/reports/{project}/lock":                   "OFFFFFFFF",
	"GET /web/projects/{project}/timeline":                                  "OOONONFFN",
	"GET /web/streams/{stream}/timeline":                                    "OOOFFFFFF", // user-bj: bj reads their own stream
	"GET /web/inbox":                                                        "OOOOOOOOO", // each reads their own
	"POST /codec/encode":                                                    "OFFFFFFFF", // Temporal payloads hold personal data
	"POST /codec/decode":                                                    "OFFFFFFFF",
	"POST /web/inbox/read":                                                  "OOOOOOOOO",
}

// matrixPrincipals are the columns, side A first in each pair.
var matrixPrincipals = []identity.Principal{
	{UserID: "admin", Name: "部管理员", Role: identity.RoleMinistry, Organisation: identity.MinistryOrganisation},
	{UserID: "audit", Name: "审计员", Role: identity.RoleAuditor, Organisation: "审计署"},
	{UserID: "bj", Name: "北京市人社局", Role: identity.RoleProvince, Organisation: "11"},
	{UserID: "tj", Name: "天津市人社局", Role: identity.RoleProvince, Organisation: "12"},
	{UserID: "sa", Name: "北京技师学院", Role: identity.RoleSchool, Organisation: "11-001"},
	{UserID: "sb", Name: "天津技师学院", Role: identity.RoleSchool, Organisation: "12-001"},
	{UserID: "e1", Name: "专家甲", Role: identity.RoleExpert, Organisation: "某大学"},
	{UserID: "e2", Name: "专家乙", Role: identity.RoleExpert, Organisation: "某研究院"},
	{UserID: "v1", Name: "评估机构", Role: identity.RoleEvaluator, Organisation: "某评估机构"},
}

// mirror is the column on the other side of the boundary: who stands to side
// B's resources as column i stands to side A's.
var mirror = []int{0, 1, 3, 2, 5, 4, 7, 6, 8}

// matrixFixture is side A's and side B's resources, recorded in the log and
// projected: an application per school with an attachment, both recommended
// into batch b1 and assigned to one expert each.
type matrixFixture struct {
	sides [2]map[string]string // path wildcard → value, for side A and side B
}

func newMatrixFixture(e *env) matrixFixture {
	e.t.Helper()
	e.withPages()
	u := e.selectionUsers()
	e.openSelectionBatch("b1", "2.1", "YZYX")
	var f matrixFixture
	for i, side := range []struct{ token, province, title, content string }{
		{u.schoolA, "11", "北京技师学院申报", "%PDF-1.4\nA"}, {u.schoolB, "12", "天津技师学院申报", "%PDF-1.4\nB"},
	} {
		res := e.do("POST", "/api/v1/applications", side.token,
			`{"batch_id":"b1","title":"`+side.title+`","province":"`+side.province+`"}`, "Idempotency-Key", "matrix-"+side.province)
		want(e.t, res, http.StatusCreated, "")
		id := res.str("application_id")
		up := e.upload("/api/v1/applications/"+id+"/attachments", side.token, "file", "申报书.pdf", []byte(side.content))
		want(e.t, up, http.StatusCreated, "")
		user := map[string]string{"11": "bj", "12": "tj"}[side.province]
		f.sides[i] = map[string]string{"round": "r1", "province": side.province, "batch": "b1", "id": id, "sha256": up.str("sha256"),
			"stream": "user-" + user, "user": user, "objection": "o1", "expert": "e1", "token": "t-" + user, "$": "",
			"code": side.province + "-001", "sheet": "schools"}
	}
	ctx := context.Background()
	appendBatch := func(key string, typ string, v any) {
		data, _ := json.Marshal(v)
		if _, err := e.store.Append(ctx, selection.SelectionBatchStream("b1"), events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("matrix", key), Type: typ, SchemaVersion: 1, Data: data, Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	appendBatch("rec-11", selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "11", Applications: []string{f.sides[0]["id"]}})
	appendBatch("rec-12", selection.TypeApplicationsRecommended, selection.ApplicationsRecommended{Province: "12", Applications: []string{f.sides[1]["id"]}})
	appendBatch("assign", selection.TypeExpertsAssigned, selection.ExpertsAssigned{Round: 1, Assignments: []selection.ExpertAssignment{
		{Application: f.sides[0]["id"], Experts: []string{"e1"}}, {Application: f.sides[1]["id"], Experts: []string{"e2"}},
	}})
	// Each side's application became a project with a 2024 performance report.
	for i, side := range []struct{ school, province string }{{"11-001", "11"}, {"12-001", "12"}} {
		app := f.sides[i]["id"]
		project := selection.ProjectID("b1", app)
		appendTo := func(stream, typ string, v any) {
			data, _ := json.Marshal(v)
			if _, err := e.store.Append(ctx, stream, events.AnyVersion, events.NewEvent{
				ID: events.DeriveID("matrix", stream, typ), Type: typ, SchemaVersion: 1, Data: data,
				Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
			}); err != nil {
				e.t.Fatal(err)
			}
		}
		appendTo(selection.ProjectStream(project), selection.TypeProjectCreated, selection.ProjectCreated{
			ProjectID: project, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", Application: app, Province: side.province, Rank: i + 1})
		appendTo(performance.ReportStream(2024, project), performance.TypeReportOpened, performance.ReportOpened{
			Year: 2024, ProjectID: project, BatchID: "b1", TaskItem: "2.1", TaskType: "YZYX", Application: app,
			School: side.school, Province: side.province})
		f.sides[i]["project"] = project
		dev := fmt.Sprintf("JXBZ-%s-1", side.province)
		appendTo(development.ProjectStream(dev), development.TypeProjectAssigned, development.ProjectAssigned{ProjectID: dev, TaskItem: "4",
			TaskType: development.TaskStandard, Title: "教学标准", Province: side.province, LeadUnit: side.school, LeadUnitName: side.school})
		f.sides[i]["devproject"] = dev
		f.sides[i]["year"] = "2024"
		f.sides[i]["inspection"] = "i1"
		f.sides[i]["kind"] = "application"
	}
	e.projectSelection()
	if _, err := projections.Rebuild(ctx, e.d.Pool, e.store, projections.SelectionBatches{}, nil); err != nil {
		e.t.Fatal(err)
	}
	return f
}

var wildcard = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// decide runs the route's declared resource function and the policy for p, as
// the server does before any handler, on the given side's resources.
func decide(t *testing.T, srv *api.Server, rt api.Route, p identity.Principal, values map[string]string) byte {
	t.Helper()
	method, pattern, _ := strings.Cut(rt.Pattern, " ")
	path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
		return url.PathEscape(values[wildcard.FindStringSubmatch(w)[1]])
	})
	req := httptest.NewRequest(method, path, nil)
	for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
		v, ok := values[m[1]]
		if !ok {
			t.Fatalf("%s: the fixture has no value for {%s}", rt.Pattern, m[1])
		}
		req.SetPathValue(m[1], v)
	}
	res, err := rt.Resource(req, p)
	if err == nil {
		err = policy.Decide(p, rt.Action, res)
	}
	switch {
	case err == nil:
		return 'O'
	case errors.Is(err, policy.ErrForbidden):
		return 'F'
	case errors.Is(err, policy.ErrNotFound):
		return 'N'
	}
	t.Fatalf("%s for %s: %v", rt.Pattern, p.UserID, err)
	return 0
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := newMatrixFixture(e)
	routes := e.srv.Routes()
	seen := map[string]bool{}
	var missing []string
	for _, rt := range routes {
		if rt.Public {
			continue // TestEveryRouteDeclaresPolicy keeps the public list
		}
		seen[rt.Pattern] = true
		wantRow, ok := accessMatrix[rt.Pattern]
		a := make([]byte, len(matrixPrincipals))
		b := make([]byte, len(matrixPrincipals))
		for i, p := range matrixPrincipals {
			a[i] = decide(t, e.srv, rt, p, f.sides[0])
			b[i] = decide(t, e.srv, rt, p, f.sides[1])
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%q: %q,", rt.Pattern, a))
			continue
		}
		t.Run(rt.Pattern, func(t *testing.T) {
			if string(a) != wantRow {
				t.Errorf("decisions %s, want %s (M Au PA PB SA SB EA EB Ev)", a, wantRow)
			}
			// The boundary is symmetric: on side B's resources each column is
			// decided as its mirror was on side A's. So province 11 reaches
			// nothing of province 12's by editing the URL, and so on.
			for i := range matrixPrincipals {
				if b[i] != a[mirror[i]] {
					t.Errorf("%s on side B: %c, but %s on side A: %c", matrixPrincipals[i].UserID, b[i],
						matrixPrincipals[mirror[i]].UserID, a[mirror[i]])
				}
			}
			// Whoever is scoped to side A is refused every side-B resource
			// that names its owner, with 403 or 404.
			if !strings.Contains(rt.Pattern, "{") {
				return
			}
			for _, i := range []int{2, 4, 6} {
				if a[mirror[i]] != 'O' && b[i] == 'O' {
					t.Errorf("%s reaches side B's resource", matrixPrincipals[i].UserID)
				}
			}
		})
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes without a row in accessMatrix (decided now as shown):\n%s", strings.Join(missing, "\n"))
	}
	for pattern := range accessMatrix {
		if !seen[pattern] {
			t.Errorf("accessMatrix names %s, which is not a registered route", pattern)
		}
	}
}

// A logged-in province-11 user who edits a URL or a form field to reach
// province 12's resources gets 403 or 404 from the real handlers, and nothing
// is recorded.
func TestScopeByEditingURLsAndFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := newMatrixFixture(e)
	e.register(`{"user_id":"e1","name":"专家甲","role":"expert","organisation":"某大学"}`)
	e.project()
	ctx := context.Background()
	for _, u := range []string{"bj", "e1"} {
		if err := api.SetPassword(ctx, e.d.Pool, u, "足够长的测试密码0001"); err != nil {
			t.Fatal(err)
		}
	}
	before, err := e.store.StreamVersion(ctx, selection.SelectionBatchStream("b1"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.sides[0], f.sides[1]
	reports := []string{performance.ReportStream(2024, a["project"]), performance.ReportStream(2024, b["project"])}
	reportVersions := func() []int64 {
		var vs []int64
		for _, st := range reports {
			v, err := e.store.StreamVersion(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	reportsBefore := reportVersions()
	bj := e.browser("10.9.0.1")
	if rec := bj.login("bj", "足够长的测试密码0001"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	token := bj.csrf("/web/")
	refused := func(who *browser, method, path string, form url.Values) {
		t.Helper()
		rec := who.do(method, path, form, "X-CSRF-Token", token)
		if rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 403 or 404", method, path, rec.Code)
		}
		if strings.Contains(rec.Body.String(), b["id"]) || strings.Contains(rec.Body.String(), "天津技师学院申报") {
			t.Errorf("%s %s shows side B's application", method, path)
		}
	}
	post := url.Values{"csrf_token": {token}}
	// Edited URLs, pages and API alike.
	refused(bj, "GET", "/web/intent-rounds/r1/provinces/12", nil)
	refused(bj, "POST", "/web/intent-rounds/r1/provinces/12", url.Values{"csrf_token": {token}, "action": {"submit"}})
	refused(bj, "POST", "/web/intent-rounds/r1/provinces/12/return", url.Values{"csrf_token": {token}, "reason": {"x"}})
	refused(bj, "GET", "/web/selection-batches/b1/provinces/12/recommend", nil)
	refused(bj, "POST", "/web/selection-batches/b1/provinces/12/recommend", url.Values{"csrf_token": {token}, "rank_" + b["id"]: {"1"}})
	refused(bj, "GET", "/api/v1/intent-rounds/r1/provinces/12/form", nil)
	refused(bj, "GET", "/api/v1/applications/"+b["id"], nil)
	refused(bj, "GET", "/api/v1/attachments/"+b["sha256"], nil)
	refused(bj, "POST", "/api/v1/selection-batches/b1/provinces/12/recommend", nil)
	refused(bj, "GET", "/web/selection-batches/b1", nil)
	refused(bj, "GET", "/web/applications/"+b["id"], nil)
	refused(bj, "POST", "/web/applications/"+a["id"]+"/submit", url.Values{"csrf_token": {token}}) // a school's declaration
	refused(bj, "GET", "/web/performance/2024/reports/"+b["project"], nil)
	refused(bj, "GET", "/web/projects/"+b["project"]+"/timeline", nil)
	refused(bj, "GET", "/web/streams/user-tj/timeline", nil)
	refused(bj, "POST", "/web/performance/2024/reports/"+a["project"], url.Values{"csrf_token": {token}, "action": {"submit"}}) // a school's declaration
	refused(bj, "POST", "/web/performance/2024/reports/"+a["project"]+"/return", url.Values{"csrf_token": {token}, "reason": {"x"}})
	// An edited form field: province 11's own recommendation form naming
	// province 12's application.
	post.Set("rank_"+a["id"], "1")
	post.Set("rank_"+b["id"], "2")
	refused(bj, "POST", "/web/selection-batches/b1/provinces/11/recommend", post)

	// School A edits the id in its application's address.
	sa := e.browser("10.9.0.3")
	if err := api.SetPassword(ctx, e.d.Pool, "sa", "足够长的测试密码0001"); err != nil {
		t.Fatal(err)
	}
	if rec := sa.login("sa", "足够长的测试密码0001"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	token = sa.csrf("/web/")
	refused(sa, "GET", "/web/applications/"+b["id"], nil)
	refused(sa, "POST", "/web/applications/"+b["id"], url.Values{"csrf_token": {token}, "title": {"改名"}})
	refused(sa, "POST", "/web/applications/"+b["id"]+"/submit", url.Values{"csrf_token": {token}})
	refused(sa, "GET", "/web/performance/2024/reports/"+b["project"], nil)
	refused(sa, "POST", "/web/performance/2024/reports/"+b["project"], url.Values{"csrf_token": {token}, "action": {"draft"}, "summary": {"改写"}})
	refused(sa, "POST", "/web/performance/2024/reports/"+a["project"]+"/lock", url.Values{"csrf_token": {token}})
	if rec := sa.do("GET", "/web/applications", nil); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), b["id"]) ||
		!strings.Contains(rec.Body.String(), a["id"]) {
		t.Errorf("school A's list: %d, lists B's %v", rec.Code, strings.Contains(rec.Body.String(), b["id"]))
	}

	// An expert's review form naming an application assigned to someone else.
	e1 := e.browser("10.9.0.2")
	if rec := e1.login("e1", "足够长的测试密码0001"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	token = e1.csrf("/web/")
	refused(e1, "POST", "/web/selection-batches/b1/review", url.Values{"csrf_token": {token}, "score_" + b["id"] + "_": {"10"}})

	if after := reportVersions(); !slices.Equal(after, reportsBefore) {
		t.Fatalf("report streams %v → %v", reportsBefore, after)
	}
	if after, err := e.store.StreamVersion(ctx, selection.SelectionBatchStream("b1")); err != nil || after != before {
		t.Fatalf("batch stream %d → %d, %v", before, after, err)
	}
}
