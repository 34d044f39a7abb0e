package scenarios_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"go.temporal.io/sdk/client"

	"keytask/api"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

// httpClient talks to the API as one user.
type httpClient struct {
	t     *testing.T
	base  string
	token string
}

func (c httpClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Error(err)
		return 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if s, ok := out.(*[]byte); ok {
			*s = b
		} else if err := json.Unmarshal(b, out); err != nil {
			c.t.Errorf("%s %s: %s: %v", method, path, b, err)
		}
	}
	if res.StatusCode >= 300 {
		c.t.Logf("%s %s → %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode
}

// doErr is do for a request expected to fail: it decodes the error body.
func (c httpClient) doErr(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Error(err)
		return 0
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
	}
	return res.StatusCode
}

type scenarioProject struct {
	id, school, province, taskType string
	active                         bool
}

// genReport is a report as a school's client sends it: amounts as decimal
// strings or JSON numbers of 万元 with up to four decimals, never over plan
// unless explained.
func genReport(rng *rand.Rand, taskType string) performance.ReportInput {
	in := performance.ReportInput{Planned: map[string]json.RawMessage{}, Spent: map[string]json.RawMessage{}, Indicators: map[string]json.RawMessage{},
		Summary: "本年度建设任务推进情况"}
	for _, s := range intent.Sources {
		p := rng.IntN(3_000_0000) // yuan
		sp := rng.IntN(p + 1)
		if rng.IntN(8) == 0 {
			sp = p + rng.IntN(50_0000) // overspent, explained below
			in.Deviation = "追加实训设备投入"
		}
		wan := func(y int) json.RawMessage {
			txt := fmt.Sprintf("%d.%04d", y/10000, y%10000)
			if rng.IntN(2) == 0 {
				return json.RawMessage(`"` + txt + `"`)
			}
			return json.RawMessage(txt)
		}
		in.Planned[string(s)], in.Spent[string(s)] = wan(p), wan(sp)
	}
	tt, _ := performance.Indicators.For(taskType)
	for _, ind := range tt.Indicators {
		max := int64(5000)
		switch {
		case ind.Kind == performance.KindPercent:
			max = 100
		case ind.Max > 0:
			max = min(max, ind.Max)
		}
		in.Indicators[ind.Key] = json.RawMessage(fmt.Sprint(rng.Int64N(max + 1)))
	}
	return in
}

// TestPerformanceCollectionRollups runs a collection on a real Temporal
// server with schools and the ministry acting through the HTTP API —
// drafts, submissions, returns with reasons, resubmissions, locks, late
// and missing reports — and checks that the read model's roll-ups per
// province and task type equal an independent sum over the events, and the
// sum of what the schools sent in exact rationals, and that the .xlsx
// export carries the same totals.
func TestPerformanceCollectionRollups(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a collection on a real Temporal server")
	}
	p := startPlatform(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 2026))
	srv := api.New(api.Config{Pool: p.d.Pool, Store: p.store, Temporal: p.tc})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	adminToken, _, err := api.SeedAdmin(ctx, p.store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	admin := httpClient{t, hs.URL, adminToken}
	waitFor(t, "administrator projected", time.Minute, func() bool { return admin.do("GET", "/api/v1/me", nil, nil) == http.StatusOK })

	// Projects as publication leaves them; three have ended and get no report.
	var projects []scenarioProject
	provinces := []string{"11", "31", "44", "51"}
	types := []string{"YZYX", "YZZY", "JPKC"}
	ministry := events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry), Organisation: identity.MinistryOrganisation}
	add := func(stream, typ string, data any) {
		b, _ := json.Marshal(data)
		if _, err := p.store.Append(ctx, stream, events.AnyVersion, events.NewEvent{ID: events.DeriveID("scenario", stream, typ),
			Type: typ, SchemaVersion: 1, Data: b, Metadata: ministry}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 36 {
		pr := scenarioProject{school: fmt.Sprintf("sch%02d", i), province: provinces[i%4], taskType: types[i%3], active: i%12 != 5}
		app := fmt.Sprintf("app%02d", i)
		pr.id = selection.ProjectID("b-"+pr.taskType, app)
		add(selection.ApplicationStream(app), selection.TypeApplicationCreated, selection.ApplicationCreated{ApplicationID: app,
			BatchID: "b-" + pr.taskType, TaskType: pr.taskType, School: pr.school, Province: pr.province, Title: "项目" + app})
		add(selection.ProjectStream(pr.id), selection.TypeProjectCreated, selection.ProjectCreated{ProjectID: pr.id,
			BatchID: "b-" + pr.taskType, TaskType: pr.taskType, Application: app, Province: pr.province, Rank: i + 1})
		switch {
		case !pr.active && i%2 == 1:
			add(selection.ProjectStream(pr.id), tracking.TypeProjectRevoked, tracking.ProjectRevoked{ProjectID: pr.id, Reason: "撤销"})
		case !pr.active:
			add(selection.ProjectStream(pr.id), tracking.TypeProjectAccepted, tracking.ProjectAccepted{ProjectID: pr.id, Conclusion: "通过验收"})
		}
		projects = append(projects, pr)
	}
	tokens := map[string]string{}
	for _, pr := range projects {
		if admin.do("POST", "/api/v1/users", map[string]string{"user_id": "u-" + pr.school, "name": pr.school + "学校", "role": "school", "organisation": pr.school}, nil) != http.StatusCreated {
			t.Fatal("register school")
		}
		tokens[pr.school] = userToken(t, p.store, "u-"+pr.school)
	}
	admin.do("POST", "/api/v1/users", map[string]string{"user_id": "gd", "name": "广东省人社厅", "role": "province", "organisation": "44"}, nil)
	guangdong := httpClient{t, hs.URL, userToken(t, p.store, "gd")}
	waitFor(t, "users projected", time.Minute, func() bool {
		return guangdong.do("GET", "/api/v1/me", nil, nil) == http.StatusOK
	})

	// This year's collection, on a short clock.
	opens := time.Now()
	year := opens.In(time.FixedZone("CST", 8*3600)).Year()
	deadlineAfter := 40 * time.Second
	run, err := p.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.PerformanceCollectionWorkflowID(year), TaskQueue: temporalx.TaskQueue},
		workflows.PerformanceCollectionWorkflowName, workflows.PerformanceCollectionParams{OpensAt: opens, DeadlineAfter: deadlineAfter,
			ReminderOffsets: []time.Duration{30 * time.Second, 20 * time.Second}, CloseAfter: 12 * time.Second, Actor: ministry})
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("/api/v1/performance/%d", year)
	// The collection opens its reports in batches and refuses report commands
	// until it has opened them all; schools start once every report is listed.
	active := 0
	for _, pr := range projects {
		if pr.active {
			active++
		}
	}
	waitFor(t, "every report opened", time.Minute, func() bool {
		var list struct{ Reports []json.RawMessage }
		if admin.do("GET", base+"/reports", nil, &list) != http.StatusOK || len(list.Reports) != active {
			return false
		}
		v, err := p.tc.QueryWorkflow(ctx, workflows.PerformanceCollectionWorkflowID(year), "", workflows.QueryPerformanceCollection)
		var st workflows.PerformanceCollectionStatus
		return err == nil && v.Get(&st) == nil && len(st.Reports) == active
	})

	// What each school sent last, by project; late ones wait for the deadline.
	var mu sync.Mutex
	sent := map[string]performance.ReportInput{}
	returned := map[string]bool{}
	var lateOnes []scenarioProject
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, pr := range projects {
		if !pr.active {
			continue
		}
		switch {
		case i%9 == 0:
			continue // never submitted
		case i%9 == 1:
			lateOnes = append(lateOnes, pr)
			continue
		}
		wg.Add(1)
		go func(i int, pr scenarioProject, r1, r2 performance.ReportInput) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			school := httpClient{t, hs.URL, tokens[pr.school]}
			path := base + "/reports/" + pr.id
			if st := school.do("PUT", path+"/draft", performance.ReportInput{Summary: "草稿"}, nil); st != http.StatusOK {
				t.Errorf("draft %s: %d", pr.id, st)
			}
			if st := school.do("POST", path+"/submit", r1, nil); st != http.StatusOK {
				t.Errorf("submit %s: %d", pr.id, st)
				return
			}
			final := r1
			switch i % 4 {
			case 0: // returned and resubmitted
				if st := admin.do("POST", path+"/return", map[string]string{"reason": "实际投入与凭证不符"}, nil); st != http.StatusOK {
					t.Errorf("return %s: %d", pr.id, st)
				}
				if st := school.do("POST", path+"/submit", r2, nil); st != http.StatusOK {
					t.Errorf("resubmit %s: %d", pr.id, st)
				}
				final = r2
			case 1: // returned and left so
				if st := admin.do("POST", path+"/return", map[string]string{"reason": "请补充指标"}, nil); st != http.StatusOK {
					t.Errorf("return %s: %d", pr.id, st)
				}
				mu.Lock()
				returned[pr.id] = true
				mu.Unlock()
			case 2:
				if st := admin.do("POST", path+"/lock", nil, nil); st != http.StatusOK {
					t.Errorf("lock %s: %d", pr.id, st)
				}
			}
			mu.Lock()
			sent[pr.id] = final
			mu.Unlock()
		}(i, pr, genReport(rng, pr.taskType), genReport(rng, pr.taskType))
	}
	wg.Wait()
	if time.Since(opens) > deadlineAfter {
		t.Fatalf("the on-time submissions took %s, past the deadline", time.Since(opens))
	}

	// Refusals through the API name the field and record nothing.
	var pending scenarioProject
	for i, pr := range projects {
		if pr.active && i%9 == 0 {
			pending = pr
			break
		}
	}
	pendingPath := base + "/reports/" + pending.id
	versionBefore, err := p.store.StreamVersion(ctx, performance.ReportStream(year, pending.id))
	if err != nil {
		t.Fatal(err)
	}
	bad := genReport(rng, pending.taskType)
	bad.Spent["school"] = json.RawMessage(`"12.34567"`)
	for _, c := range []struct {
		who    httpClient
		method string
		path   string
		body   any
		status int
		field  string
	}{
		{httpClient{t, hs.URL, tokens[pending.school]}, "POST", pendingPath + "/submit", bad, http.StatusUnprocessableEntity, "spent.school"},
		{httpClient{t, hs.URL, tokens[pending.school]}, "PUT", pendingPath + "/draft", map[string]any{"spent": map[string]string{"bank": "1"}}, http.StatusUnprocessableEntity, "spent.bank"},
		{httpClient{t, hs.URL, tokens[pending.school]}, "POST", pendingPath + "/submit", map[string]any{"colour": 1}, http.StatusBadRequest, "colour"},
		// The report is the school's declaration: the ministry may not submit it.
		{admin, "POST", pendingPath + "/submit", genReport(rng, pending.taskType), http.StatusForbidden, ""},
		{admin, "POST", pendingPath + "/return", map[string]string{"reason": "x"}, http.StatusConflict, "project_id"},
		{httpClient{t, hs.URL, tokens[pending.school]}, "POST", pendingPath + "/lock", nil, http.StatusForbidden, ""},
	} {
		var body struct{ Error, Field string }
		if st := c.who.doErr(c.method, c.path, c.body, &body); st != c.status || body.Field != c.field || body.Error == "" {
			t.Errorf("%s %s: %d %+v, want %d on %q", c.method, c.path, st, body, c.status, c.field)
		}
	}
	if v, err := p.store.StreamVersion(ctx, performance.ReportStream(year, pending.id)); err != nil || v != versionBefore {
		t.Errorf("refused commands moved the report from version %d to %d (%v)", versionBefore, v, err)
	}
	if st := guangdong.do("GET", base+"/reports/"+projects[2].id, nil, nil); st != http.StatusOK {
		t.Errorf("a province could not read its own school's report: %d", st)
	}
	other := projects[2]
	school := httpClient{t, hs.URL, tokens[projects[3].school]}
	if st := school.do("POST", base+"/reports/"+other.id+"/submit", genReport(rng, other.taskType), nil); st != http.StatusNotFound {
		t.Errorf("another school's report: %d", st)
	}
	if st := guangdong.do("GET", base+"/reports/"+projects[0].id, nil, nil); st != http.StatusNotFound {
		t.Errorf("a province read another's report: %d", st)
	}

	time.Sleep(time.Until(opens.Add(deadlineAfter + 2*time.Second)))
	for _, pr := range lateOnes {
		r := genReport(rng, pr.taskType)
		var res struct{ Late bool }
		if st := (httpClient{t, hs.URL, tokens[pr.school]}).do("POST", base+"/reports/"+pr.id+"/submit", r, &res); st != http.StatusOK || !res.Late {
			t.Errorf("late submission %s: %d late=%v", pr.id, st, res.Late)
		}
		sent[pr.id] = r
	}
	var result workflows.PerformanceCollectionResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	var closed struct{ Error, Field string }
	if st := (httpClient{t, hs.URL, tokens[pending.school]}).doErr("POST", pendingPath+"/submit", genReport(rng, pending.taskType), &closed); st != http.StatusConflict || !strings.Contains(closed.Error, "已结束") {
		t.Errorf("submission after the close: %d %+v", st, closed)
	}

	// The log, folded independently of the read model: per project the last
	// submission, unless a return came after it.
	type group struct {
		reports, submitted int
		planned, spent     [5]int64
		indicators         map[string]int64
	}
	fromEvents := map[string]*group{}
	var lateMarks, reminders int
	remindedTwice := map[string]bool{}
	for _, pr := range projects {
		evs, err := p.store.ReadStream(ctx, performance.ReportStream(year, pr.id), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !pr.active {
			if len(evs) != 0 {
				t.Errorf("ended project %s got a report", pr.id)
			}
			continue
		}
		key := pr.province + "/" + pr.taskType
		g := fromEvents[key]
		if g == nil {
			g = &group{indicators: map[string]int64{}}
			fromEvents[key] = g
		}
		g.reports++
		var standing *performance.Report
		for _, e := range evs {
			switch e.Type {
			case performance.TypeReportSubmitted:
				var s performance.ReportSubmitted
				mustDecode(t, e.Data, &s)
				standing = &s.Report
			case performance.TypeReportReturned:
				standing = nil
			}
		}
		if standing == nil {
			continue
		}
		g.submitted++
		for j, s := range intent.Sources {
			g.planned[j] += int64(standing.Planned.Get(s))
			g.spent[j] += int64(standing.Spent.Get(s))
		}
		for k, v := range standing.Indicators {
			g.indicators[k] += v
		}
	}
	cevs, err := p.store.ReadStream(ctx, performance.CollectionStream(year), events.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cevs {
		switch e.Type {
		case performance.TypeReportMarkedLate:
			lateMarks++
		case performance.TypeReminderSent:
			reminders++
			var r performance.ReminderSent
			mustDecode(t, e.Data, &r)
			k := r.ProjectID + r.Offset.String()
			if remindedTwice[k] {
				t.Errorf("two reminders for %s at %s", r.ProjectID, r.Offset)
			}
			remindedTwice[k] = true
		}
	}

	// The inputs, summed in exact rationals.
	fromInputs := map[string][2][5]*big.Rat{}
	for _, pr := range projects {
		in, ok := sent[pr.id]
		if !ok || returned[pr.id] {
			continue
		}
		key := pr.province + "/" + pr.taskType
		sums, ok := fromInputs[key]
		if !ok {
			for a := range 2 {
				for j := range 5 {
					sums[a][j] = new(big.Rat)
				}
			}
			fromInputs[key] = sums
		}
		for j, s := range intent.Sources {
			for a, m := range []map[string]json.RawMessage{in.Planned, in.Spent} {
				var txt string
				if err := json.Unmarshal(m[string(s)], &txt); err != nil {
					txt = string(m[string(s)])
				}
				v, ok := new(big.Rat).SetString(txt)
				if !ok {
					t.Fatalf("input %q", txt)
				}
				sums[a][j].Add(sums[a][j], v)
			}
		}
	}

	var rollups struct {
		Rollups []rollupJSON
	}
	waitFor(t, "read model caught up", time.Minute, func() bool {
		var c projections.PerformanceCollectionRow
		if admin.do("GET", base, nil, &c) != http.StatusOK || c.Stage != "closed" {
			return false
		}
		admin.do("GET", base+"/rollups", nil, &rollups)
		var n int
		for _, r := range rollups.Rollups {
			n += r.Submitted
		}
		return n == result.Summary.Submitted-len(returned)
	})
	if len(rollups.Rollups) != len(fromEvents) {
		t.Fatalf("%d roll-ups, %d groups in the log", len(rollups.Rollups), len(fromEvents))
	}
	var nationalSpent intent.Yuan
	for _, r := range rollups.Rollups {
		key := r.Province + "/" + r.TaskType
		g := fromEvents[key]
		if g == nil || r.Reports != g.reports || r.Submitted != g.submitted {
			t.Errorf("%s: reports %d submitted %d, log %+v", key, r.Reports, r.Submitted, g)
			continue
		}
		var pt, st int64
		for j, s := range intent.Sources {
			planned, spent := r.Planned[string(s)], r.Spent[string(s)]
			if planned.Yuan != g.planned[j] || spent.Yuan != g.spent[j] {
				t.Errorf("%s %s: planned %d spent %d, log %d %d", key, s, planned.Yuan, spent.Yuan, g.planned[j], g.spent[j])
			}
			if planned.Wan != intent.Yuan(planned.Yuan).WanFixed() {
				t.Errorf("%s %s: %q is not %d yuan in 万元", key, s, planned.Wan, planned.Yuan)
			}
			in := fromInputs[key]
			for a, got := range []intent.Yuan{intent.Yuan(planned.Yuan), intent.Yuan(spent.Yuan)} {
				want := new(big.Rat)
				if in[a][j] != nil {
					want = in[a][j]
				}
				if new(big.Rat).SetFrac64(int64(got), intent.YuanPerWan).Cmp(want) != 0 {
					t.Errorf("%s %s: %s 万元 in the read model, %s sent", key, s, got.Wan(), want.FloatString(4))
				}
			}
			pt += g.planned[j]
			st += g.spent[j]
		}
		if r.PlannedTotal.Yuan != pt || r.SpentTotal.Yuan != st {
			t.Errorf("%s: totals %d %d, log %d %d", key, r.PlannedTotal.Yuan, r.SpentTotal.Yuan, pt, st)
		}
		for k, v := range g.indicators {
			if r.Indicators[k] != v {
				t.Errorf("%s %s: %d, log %d", key, k, r.Indicators[k], v)
			}
		}
		if r.RatePermille != r.Submitted*1000/r.Reports {
			t.Errorf("%s: rate %d", key, r.RatePermille)
		}
		nationalSpent += intent.Yuan(r.SpentTotal.Yuan)
	}
	missing := 0
	for _, pr := range projects {
		if _, ok := sent[pr.id]; pr.active && !ok {
			missing++
		}
	}
	if result.Summary.Missing != missing || result.Summary.Late != missing+len(lateOnes) || lateMarks != result.Summary.Late || reminders == 0 {
		t.Errorf("summary %+v: missing %d, late ones %d, late marks %d, reminders %d", result.Summary, missing, len(lateOnes), lateMarks, reminders)
	}

	// The province sees only its own; the export carries the same totals.
	var own struct {
		Rollups []rollupJSON
	}
	guangdong.do("GET", base+"/rollups", nil, &own)
	if len(own.Rollups) == 0 || slices.ContainsFunc(own.Rollups, func(r rollupJSON) bool { return r.Province != "44" }) {
		t.Errorf("province roll-ups %+v", own.Rollups)
	}
	var book []byte
	if admin.do("GET", base+"/rollups.xlsx", nil, &book) != http.StatusOK {
		t.Fatal("export")
	}
	f, err := excelize.OpenReader(strings.NewReader(string(book)))
	if err != nil {
		t.Fatal(err)
	}
	totalRow := exports.PerformanceFirstRow + len(rollups.Rollups)
	cellName, _ := excelize.CoordinatesToCellName(exports.PerformanceSpentCol, totalRow)
	got, err := f.GetCellValue(exports.PerformanceSheet, cellName, excelize.Options{RawCellValue: true})
	if err != nil || got != nationalSpent.Wan() {
		t.Errorf("export total spent %q, want %s (%v)", got, nationalSpent.Wan(), err)
	}
}

// Roll-ups as the API answers them: money as {"yuan", "wan"}.
type moneyJSON struct {
	Yuan int64  `json:"yuan"`
	Wan  string `json:"wan"`
}

type rollupJSON struct {
	Province     string               `json:"province"`
	TaskType     string               `json:"task_type"`
	Reports      int                  `json:"reports"`
	Submitted    int                  `json:"submitted"`
	RatePermille int                  `json:"rate_permille"`
	Planned      map[string]moneyJSON `json:"planned"`
	Spent        map[string]moneyJSON `json:"spent"`
	PlannedTotal moneyJSON            `json:"planned_total"`
	SpentTotal   moneyJSON            `json:"spent_total"`
	Indicators   map[string]int64     `json:"indicators"`
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
