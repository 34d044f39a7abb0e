package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"keytask/domain/intent"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
	"keytask/projections/progresstest"
)

// programEvent is one event of a synthetic programme, kept until appended.
type programEvent struct {
	stream, typ string
	data        json.RawMessage
}

// seedProgram appends evs to the log and rebuilds the progress model, as the
// projector would have it once caught up; it returns the log's head.
func (e *env) seedProgram(evs []programEvent, from int) int64 {
	e.t.Helper()
	ctx := context.Background()
	for i, ev := range evs {
		if _, err := e.store.Append(ctx, ev.stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("progress-api-test", strconv.Itoa(from+i)), Type: ev.typ, SchemaVersion: 1, Data: ev.data,
			Metadata: events.Metadata{ActorID: "admin", Role: "ministry"},
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.store.SealCommitted(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, e.d.Pool, e.store, projections.Progress{}, nil); err != nil {
		e.t.Fatal(err)
	}
	h, err := e.store.Head(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return h.Position
}

func programEvents(t *testing.T) ([]programEvent, []int) {
	var evs []programEvent
	marks := progresstest.Program(func(stream, typ string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, programEvent{stream, typ, data})
	}, 7, progresstest.Small)
	return evs, marks
}

// progressJSON is the part of GET /api/v1/progress the dashboard shows.
type progressJSON struct {
	Scope     string                         `json:"scope"`
	Items     []projections.ProgressItem     `json:"items"`
	Provinces []projections.ProgressProvince `json:"provinces"`
	Cells     []projections.ProgressCell     `json:"cells"`
	Sources   []struct {
		Source  string `json:"source"`
		Pledged struct {
			Yuan int64  `json:"yuan"`
			Wan  string `json:"wan"`
		} `json:"pledged"`
		Planned, Spent struct {
			Yuan int64 `json:"yuan"`
		}
	} `json:"sources"`
}

func (e *env) progress(path, token string) progressJSON {
	e.t.Helper()
	res := e.do("GET", path, token, "")
	want(e.t, res, http.StatusOK, "")
	var p progressJSON
	if err := json.Unmarshal(res.Body.Bytes(), &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

var (
	dashboardRow  = regexp.MustCompile(`(?s)<tr data-(item|province|source)="([^"]+)">(.*?)</tr>`)
	dashboardCell = regexp.MustCompile(`data-k="([a-z_]+)">([^<]*)<`)
)

// dashboardTables reads the dashboard's tables: row key → column → text.
func dashboardTables(t *testing.T, html string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, m := range dashboardRow.FindAllStringSubmatch(html, -1) {
		row := map[string]string{}
		for _, c := range dashboardCell.FindAllStringSubmatch(m[3], -1) {
			row[c[1]] = c[2]
		}
		out[m[1]+":"+m[2]] = row
	}
	return out
}

func itemColumns(it projections.ProgressItem) map[string]string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	return map[string]string{"target": n(it.Target), "intended": n(it.Intended), "provinces": n(it.Provinces),
		"applications": n(it.Applications), "recommended": n(it.Recommended), "published": n(it.Published),
		"under_construction": n(it.UnderConstruction), "flagged": n(it.Flagged), "revoked": n(it.Revoked),
		"accepted": n(it.Accepted), "remaining": n(it.Remaining)}
}

// checkDashboard compares the dashboard's tables with the API's numbers.
func checkDashboard(t *testing.T, what, html string, p progressJSON) {
	t.Helper()
	tables := dashboardTables(t, html)
	for _, it := range p.Items {
		got := tables["item:"+it.PlanBatchID+"/"+it.Item]
		for k, v := range itemColumns(it) {
			if got[k] != v {
				t.Errorf("%s: item %s %s shows %q, the read model %s", what, it.Item, k, got[k], v)
			}
		}
	}
	for _, pr := range p.Provinces {
		got := tables["province:"+pr.Province]
		if got["published"] != strconv.FormatInt(pr.Published, 10) || got["intended"] != strconv.FormatInt(pr.Intended, 10) ||
			got["remaining"] != strconv.FormatInt(pr.Remaining, 10) {
			t.Errorf("%s: province %s shows %v, the read model %+v", what, pr.Province, got, pr)
		}
	}
	for _, s := range p.Sources {
		got := tables["source:"+s.Source]
		if w := intent.Yuan(s.Pledged.Yuan).Wan(); got["pledged"] != w {
			t.Errorf("%s: source %s pledged shows %q, the read model %s", what, s.Source, got["pledged"], s.Pledged.Wan)
		}
	}
	if len(p.Items) == 0 || !strings.Contains(html, "<svg") || strings.Contains(html, "http://cdn") {
		t.Errorf("%s: the dashboard has no items or no inline chart", what)
	}
}

// The dashboard's numbers equal the progress read model and the .xlsx, for
// the ministry nationally and a province for itself, now and as of an earlier
// instant (which the live model showed then).
func TestDashboardEqualsReadModelAndXLSX(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	province := e.register(`{"user_id":"bj","name":"北京市人社局","role":"province","organisation":"11"}`)
	auditor := e.register(`{"user_id":"audit","name":"审计员","role":"auditor","organisation":"审计署"}`)
	school := e.register(`{"user_id":"sa","name":"北京技师学院","role":"school","organisation":"11-001"}`)
	e.project() // the users model knows the tokens' owners
	evs, marks := programEvents(t)
	earlier := e.seedProgram(evs[:marks[1]], 0)
	then := e.progress("/api/v1/progress", e.adminToken)
	thenPage := e.do("GET", "/web/dashboard", e.adminToken, "")
	e.seedProgram(evs[marks[1]:], marks[1])

	now := e.progress("/api/v1/progress", e.adminToken)
	model, err := projections.ReadProgress(context.Background(), e.d.Pool, projections.ProgressFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if now.Scope != "national" || len(now.Items) != len(model.Items) || now.Items[1].Published == 0 || now.Items[1] != model.Items[1] {
		t.Fatalf("API %+v, read model %+v", now.Items, model.Items)
	}
	if now.Items[1].Published == then.Items[1].Published {
		t.Fatal("nothing was published after the earlier instant")
	}
	page := e.do("GET", "/web/dashboard", e.adminToken, "")
	want(t, page, http.StatusOK, "")
	checkDashboard(t, "now", page.Body.String(), now)
	checkDashboard(t, "then", thenPage.Body.String(), then)
	for _, link := range []string{`href="/web/selection-batches/b7"`, `href="/web/performance/2023"`, `href="/api/v1/progress.xlsx"`} {
		if !strings.Contains(page.Body.String(), link) {
			t.Errorf("the dashboard has no link %s", link)
		}
	}

	// The workbook holds the same numbers.
	res := e.do("GET", "/api/v1/progress.xlsx", auditor, "")
	want(t, res, http.StatusOK, "")
	f, err := excelize.OpenReader(bytes.NewReader(res.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range now.Items {
		row := exports.ProgressFirstRow + i
		for j, v := range append([]int64{it.Target, it.Intended, it.Provinces, it.Applications, it.Recommended, it.Published,
			it.UnderConstruction, it.Flagged, it.Revoked, it.Accepted}, it.Remaining) {
			c, _ := excelize.CoordinatesToCellName(exports.ProgressTargetCol+j, row)
			if got, _ := f.GetCellValue(exports.ProgressSheet, c); got != strconv.FormatInt(v, 10) {
				t.Errorf("xlsx %s %s = %q, want %d", it.Item, c, got, v)
			}
		}
	}
	for i, s := range model.Sources {
		c, _ := excelize.CoordinatesToCellName(5, exports.ProgressMoneyTotalRow(model)+i)
		if got, _ := f.GetCellValue(exports.ProgressMoneySheet, c); got != s.Pledged.WanFixed() && got != s.Pledged.Wan() {
			t.Errorf("xlsx pledged %s %s = %q, want %s", s.Source, c, got, s.Pledged.WanFixed())
		}
	}

	// As of the earlier instant: the numbers the live model showed then.
	past := e.progress(fmt.Sprintf("/api/v1/progress?as_of=%d", earlier), auditor)
	if fmt.Sprint(past.Items, past.Provinces, past.Cells, past.Sources) != fmt.Sprint(then.Items, then.Provinces, then.Cells, then.Sources) {
		t.Fatalf("as of %d:\n%+v\nlive then:\n%+v", earlier, past.Items, then.Items)
	}
	pastPage := e.do("GET", fmt.Sprintf("/web/dashboard?as_of=%d", earlier), e.adminToken, "")
	want(t, pastPage, http.StatusOK, "")
	checkDashboard(t, "as of", pastPage.Body.String(), then)
	want(t, e.do("GET", "/api/v1/progress?as_of=nonsense", e.adminToken, ""), http.StatusBadRequest, "as_of")
	want(t, e.do("GET", "/api/v1/progress?province=99", e.adminToken, ""), http.StatusBadRequest, "province")

	// A province sees itself alone, whatever it asks for.
	own := e.progress("/api/v1/progress?province=12", province)
	if own.Scope != "11" || len(own.Provinces) != 1 || own.Provinces[0].Province != "11" {
		t.Fatalf("province view %+v", own)
	}
	for _, c := range own.Cells {
		if c.Province != "11" {
			t.Fatalf("province 11 sees a cell of %s", c.Province)
		}
	}
	provPage := e.do("GET", "/web/dashboard", province, "")
	want(t, provPage, http.StatusOK, "")
	checkDashboard(t, "province", provPage.Body.String(), own)
	if strings.Contains(provPage.Body.String(), `data-province="12"`) || strings.Contains(provPage.Body.String(), "stuck-batches") {
		t.Fatal("a province's dashboard shows another province or the ministry's batches")
	}
	if res := e.do("GET", "/web/dashboard", school, ""); res.Code != http.StatusForbidden {
		t.Fatalf("a school reads the dashboard: %d", res.Code)
	}
	// The home page reads the other read models; empty ones will do.
	tx, err := e.d.Pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projections.All() {
		if err := p.Setup(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	home := e.do("GET", "/web/", e.adminToken, "")
	if !strings.Contains(home.Body.String(), `href="/web/dashboard"`) {
		t.Fatalf("the home page does not link the dashboard: %d %s", home.Code, home.Body.String())
	}
}
