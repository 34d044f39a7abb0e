package scenarios_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexus-rpc/sdk-go/nexus"
	"github.com/xuri/excelize/v2"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"keytask/activities"
	"keytask/api"
	"keytask/db/pgtest"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
	"keytask/reference"
	"keytask/temporalx"
	"keytask/temporalx/devserver"
	"keytask/workflows"
)

// dilation is how much faster than the server's clock the batch's clock runs
// in this scenario: five working days of public notice (about a week) pass in
// some twelve seconds, while the stage periods the batch sets (a year) stay
// minutes away.
const dilation = 50_000

// reachNotice bounds the wall time from the site's start to the public
// notice, which must be counted inside the holiday calendar.
const reachNotice = 3 * time.Minute

// site is keytask serving its HTTP API, with the worker (on a dilated batch
// clock) and the projector, on an embedded Temporal server and a fresh
// database.
type site struct {
	t     *testing.T
	d     *pgtest.DB
	store *events.Store
	tc    client.Client
	clock workflows.Clock
	base  string
	admin string
}

func startSite(t *testing.T) *site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := pgtest.New(t)
	store := events.NewStore(d.Pool, events.WithMACKey([]byte("scenario log key, thirty-two byte")))
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	tc, err := temporalx.Dial(ctx, srv.FrontendAddr(), "default", quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	w := worker.New(tc, temporalx.TaskQueue, worker.Options{})
	// The batch's clock runs in a year the holiday calendar covers whatever
	// today's date (see CoveredDilatedClock); the API reads the batch's
	// present through the same clock.
	clock, err := workflows.CoveredDilatedClock(nil, time.Now(), reachNotice, dilation)
	if err != nil {
		t.Fatal(err)
	}
	workflows.RegisterWith(w, &activities.Activities{Store: store}, workflows.Options{Clock: clock})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	pr, err := projections.NewProjector(d.Pool, store, nil, quiet, projections.All()...)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); pr.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	go store.RunSealer(ctx, 200*time.Millisecond, nil)

	hs := httptest.NewServer(api.New(api.Config{Pool: d.Pool, Store: store, Temporal: tc, Logger: quiet, BatchTime: clock.At}).Handler())
	t.Cleanup(hs.Close)
	admin, _, err := api.SeedAdmin(ctx, store, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, d: d, store: store, tc: tc, clock: clock, base: hs.URL, admin: admin}
	s.waitToken(admin)
	return s
}

type reply struct {
	status int
	body   []byte
	json   map[string]any
}

func (r reply) str(key string) string { s, _ := r.json[key].(string); return s }

// call sends a request as a client would; body is sent as JSON unless it is a
// url.Values (a form) or nil.
func (s *site) call(method, path, token string, body any, header ...string) reply {
	s.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	out := reply{status: res.StatusCode}
	if out.body, err = io.ReadAll(res.Body); err != nil {
		s.t.Fatal(err)
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(out.body, &out.json)
	}
	return out
}

// must sends a request and fails the test (from any goroutine) unless it answers status.
func (s *site) must(status int, method, path, token string, body any, header ...string) reply {
	s.t.Helper()
	r := s.call(method, path, token, body, header...)
	if r.status != status {
		s.t.Errorf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return r
}

// eventually retries check until it passes or the time is up.
func (s *site) eventually(within time.Duration, what string, check func() bool) {
	s.t.Helper()
	for deadline := time.Now().Add(within); !check(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// waitToken waits until the users read model knows token.
func (s *site) waitToken(token string) {
	s.t.Helper()
	s.eventually(20*time.Second, "token accepted", func() bool {
		return s.call("GET", "/api/v1/applications", token, nil).status != http.StatusUnauthorized
	})
}

func (s *site) register(userID, name string, role identity.Role, org string) string {
	s.t.Helper()
	s.must(http.StatusCreated, "POST", "/api/v1/users", s.admin,
		map[string]any{"user_id": userID, "name": name, "role": role, "organisation": org})
	return userToken(s.t, s.store, userID)
}

// userToken issues userID a token of their own, in-process: the API hands the
// ministry none of a user's it registers.
func userToken(t *testing.T, store *events.Store, userID string) string {
	t.Helper()
	tok, err := api.IssueToken(context.Background(), store, events.Metadata{ActorID: "test", Role: "system"}, userID,
		identity.TokenRequest{Label: "测试"})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// parallel runs f(0..n-1) at most six at a time, as many users acting at once.
func parallel(n int, f func(i int)) {
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

func (s *site) batchStream(batch string) []events.Event {
	s.t.Helper()
	evs, err := s.store.ReadStream(context.Background(), selection.SelectionBatchStream(batch), events.ReadOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return evs
}

func decodeEvent[T any](t *testing.T, e events.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("%s: %v", e.Type, err)
	}
	return v
}

type school struct {
	province, id, user, token, app string
}

type expertUser struct {
	id, province, token string
}

var (
	formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)
	filedRE     = regexp.MustCompile(`受理编号：([0-9a-f-]+)`)
	rowRE       = regexp.MustCompile(`<tr><td>(\d+)</td><td>([^<]+)</td>`)
)

// One whole batch of 优质技工院校 (YZYX) from all 32 provinces, driven through
// the HTTP API against a real Temporal server and Postgres: schools apply,
// provinces recommend within their quotas (one raised), the ministry decides
// qualification (one failed, one returned, corrected and passed), assigns
// experts, who score; the ranking is proposed and confirmed, the list goes on
// public notice, the public files two objections (one form sent twice), one is
// upheld and one dismissed, the notice ends by its deadline timer and the
// ministry publishes. The published list, the public page, the workbook and
// the projects are checked against a ranking computed here from the events.
func TestSelectionBatchNational(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole selection batch on a real Temporal server")
	}
	began := time.Now()
	s := startSite(t)
	provinces := slices.Sorted(maps.Keys(identity.Provinces))
	if len(provinces) != 32 {
		t.Fatalf("%d provinces", len(provinces))
	}
	const batch = "2022-yzyx"
	const path = "/api/v1/selection-batches/" + batch
	raised := provinces[1] // has three schools and may recommend all three

	// People: a liaison per province, two or three schools per province,
	// eighteen experts from as many provinces.
	provToken := map[string]string{}
	var schools []*school
	for i, p := range provinces {
		for k := range 2 + i%2 {
			schools = append(schools, &school{province: p, id: fmt.Sprintf("%s-S%d", p, k+1), user: fmt.Sprintf("sch-%s-%d", p, k+1)})
		}
	}
	experts := make([]*expertUser, 18)
	for i := range experts {
		experts[i] = &expertUser{id: fmt.Sprintf("expert-%02d", i+1), province: provinces[(i*7)%32]}
	}
	var mu sync.Mutex
	parallel(len(provinces), func(i int) {
		tok := s.register("prov-"+provinces[i], identity.Provinces[provinces[i]]+"人力资源社会保障厅", identity.RoleProvince, provinces[i])
		mu.Lock()
		provToken[provinces[i]] = tok
		mu.Unlock()
	})
	parallel(len(schools), func(i int) {
		sc := schools[i]
		sc.token = s.register(sc.user, identity.Provinces[sc.province]+"技师学院"+sc.id, identity.RoleSchool, sc.id)
	})
	parallel(len(experts), func(i int) {
		e := experts[i]
		e.token = s.register(e.id, "专家"+e.id, identity.RoleExpert, "某职业技术师范大学")
		s.must(http.StatusCreated, "POST", "/api/v1/experts", s.admin, map[string]any{"expert_id": e.id, "name": "专家" + e.id,
			"expertise": map[string]int{"YZYX": 1 + i%3}, "province": e.province, "load": 16}, "Idempotency-Key", "expert-"+e.id)
	})
	if t.Failed() {
		t.FailNow()
	}
	for _, sc := range schools {
		s.waitToken(sc.token)
	}
	for _, e := range experts {
		s.waitToken(e.token)
	}
	for _, tok := range provToken {
		s.waitToken(tok)
	}

	// The ministry opens the batch. The stage periods and the correction
	// window are a year long: minutes on the dilated clock.
	rubric := scoring.Rubric{TaskType: "YZYX", Criteria: []scoring.Criterion{
		{Key: "base", Name: "办学基础", Weight: 40, Max: 50},
		{Key: "plan", Name: "建设方案", Weight: 35, Max: 35},
		{Key: "support", Name: "保障措施", Weight: 25, Max: 20},
	}}
	const quota = 20
	// The plan batch and its filed intent round, as the intent round records
	// them: every province undertook two 优质技工院校.
	s.seedFiledIntents("2022-1", "2022-1-r1", "2.1", provinces, 2)
	open := map[string]any{
		"batch_id": batch, "plan_batch_id": "2022-1", "task_item": "2.1", "quota": quota,
		"per_application": 3, "notice_days": 5, "correction_window_days": 365,
		"period_days": map[string]int{"qualification": 365, "expert_review": 365}, "rubric": rubric, "outlier_threshold": 25,
		"deadline": s.clock.(workflows.DilatedClock).At(time.Now()).Add(400 * 24 * time.Hour).Format(time.RFC3339),
	}
	// Quotas are not the client's to send, and a batch names its plan batch
	// and task item: each refused with the field named, nothing started.
	for field, bad := range map[string]map[string]any{
		"province_quotas": {"province_quotas": map[string]int{provinces[0]: 9}},
		"plan_batch_id":   {"plan_batch_id": ""},
		"task_item":       {"task_item": "9.9"},
	} {
		body := maps.Clone(open)
		maps.Copy(body, bad)
		if r := s.must(http.StatusUnprocessableEntity, "POST", "/api/v1/selection-batches", s.admin, body); r.json["field"] != field {
			t.Fatalf("opening with bad %s: %s", field, r.body)
		}
	}
	if n := len(s.batchStream(batch)); n != 0 {
		t.Fatalf("refused openings recorded %d events", n)
	}
	opened := s.must(http.StatusCreated, "POST", "/api/v1/selection-batches", s.admin, open)
	if q, _ := opened.json["province_quotas"].(map[string]any); len(q) != len(provinces) || q[provinces[0]] != float64(2) || opened.json["task_type"] != "YZYX" {
		t.Fatalf("quotas from the filed intents: %s", opened.body)
	}
	s.must(http.StatusOK, "POST", path+"/quota", s.admin, map[string]any{"province": raised, "quota": 3, "reason": "该省优质院校较多，经研究增加推荐名额"})

	// Schools apply and submit.
	fields := func(sc *school, enrolment int) map[string]any {
		return map[string]any{"school_name": identity.Provinces[sc.province] + "技师学院" + sc.id, "founding_year": 1960 + len(sc.id),
			"enrolment": enrolment, "teachers": 200, "key_majors": "数控加工、工业机器人应用与维护"}
	}
	parallel(len(schools), func(i int) {
		sc := schools[i]
		r := s.must(http.StatusCreated, "POST", "/api/v1/applications", sc.token, map[string]any{"batch_id": batch,
			"title": identity.Provinces[sc.province] + "技师学院" + sc.id + "申报优质技工院校", "province": sc.province,
			"fields": fields(sc, 3000+i)}, "Idempotency-Key", "apply-"+sc.id)
		sc.app = r.str("application_id")
		s.must(http.StatusOK, "POST", "/api/v1/applications/"+sc.app+"/submit", sc.token, nil)
	})
	if t.Failed() {
		t.FailNow()
	}
	// A school applies once per batch: another application is refused,
	// naming the first, and nothing is written.
	again := s.must(http.StatusConflict, "POST", "/api/v1/applications", schools[0].token, map[string]any{"batch_id": batch,
		"title": "再次申报", "province": schools[0].province, "fields": fields(schools[0], 3000)}, "Idempotency-Key", "apply-again-"+schools[0].id)
	if again.json["field"] != "batch_id" || !strings.Contains(string(again.body), schools[0].app) {
		t.Fatalf("repeat application: %s", again.body)
	}
	byProvince := map[string][]*school{}
	appSchool := map[string]*school{}
	for _, sc := range schools {
		byProvince[sc.province] = append(byProvince[sc.province], sc)
		appSchool[sc.app] = sc
	}

	// Provinces recommend within their quotas; one over its quota is refused
	// with the field named and nothing recorded.
	over := provinces[3]
	before := len(s.batchStream(batch))
	r := s.must(http.StatusUnprocessableEntity, "POST", path+"/provinces/"+over+"/recommend", provToken[over],
		map[string]any{"applications": []string{byProvince[over][0].app, byProvince[over][1].app, byProvince[over][2].app}})
	if r.json["field"] != "applications" || len(s.batchStream(batch)) != before {
		t.Fatalf("over quota: %s; %d events before, %d after", r.body, before, len(s.batchStream(batch)))
	}
	var recommended []string
	parallel(len(provinces), func(i int) {
		p := provinces[i]
		var ids []string
		for _, sc := range byProvince[p][:min(len(byProvince[p]), 2+boolInt(p == raised))] {
			ids = append(ids, sc.app)
		}
		s.must(http.StatusOK, "POST", path+"/provinces/"+p+"/recommend", provToken[p], map[string]any{"applications": ids})
		mu.Lock()
		recommended = append(recommended, ids...)
		mu.Unlock()
	})
	if t.Failed() {
		t.FailNow()
	}
	slices.Sort(recommended)
	s.must(http.StatusOK, "POST", path+"/advance", s.admin, map[string]any{"from": "recommendation", "to": "qualification"})

	// Qualification: one failed, one returned for correction, the rest passed.
	failed, returned := byProvince[provinces[5]][1].app, byProvince[provinces[9]][0].app
	var decisions []map[string]any
	for _, id := range recommended {
		d := map[string]any{"application": id, "outcome": "passed"}
		switch id {
		case failed:
			d = map[string]any{"application": id, "outcome": "failed", "reason": "办学规模不符合申报条件"}
		case returned:
			d = map[string]any{"application": id, "outcome": "returned", "reason": "缺少在校生人数佐证材料，请补正"}
		}
		decisions = append(decisions, d)
	}
	s.must(http.StatusOK, "POST", path+"/qualify", s.admin, map[string]any{"decisions": decisions})
	s.must(http.StatusConflict, "POST", path+"/advance", s.admin, map[string]any{"from": "qualification", "to": "expert_review"})
	// The school corrects, submits again, and brings it back to review; not
	// before it has submitted again, which records nothing.
	rs := appSchool[returned]
	before = len(s.batchStream(batch))
	if r := s.must(http.StatusConflict, "POST", path+"/applications/"+returned+"/resubmit", rs.token, nil); r.json["field"] != "application" ||
		len(s.batchStream(batch)) != before {
		t.Fatalf("resubmission before submitting again: %s", r.body)
	}
	s.must(http.StatusOK, "PUT", "/api/v1/applications/"+returned, rs.token, map[string]any{
		"title": identity.Provinces[rs.province] + "技师学院" + rs.id + "申报优质技工院校（补正）", "fields": fields(rs, 4321)})
	s.must(http.StatusOK, "POST", "/api/v1/applications/"+returned+"/submit", rs.token, nil)
	other := byProvince[provinces[9]][1]
	s.must(http.StatusNotFound, "POST", path+"/applications/"+returned+"/resubmit", other.token, nil)
	s.must(http.StatusOK, "POST", path+"/applications/"+returned+"/resubmit", rs.token, nil)
	s.must(http.StatusOK, "POST", path+"/qualify", s.admin, map[string]any{"decisions": []map[string]any{{"application": returned, "outcome": "passed"}}})
	s.must(http.StatusOK, "POST", path+"/advance", s.admin, map[string]any{"from": "qualification", "to": "expert_review"})

	// Expert review: the solver assigns three experts to each application.
	assigned := s.must(http.StatusOK, "POST", path+"/assign", s.admin, nil)
	if t.Failed() {
		t.FailNow()
	}
	nPassed := len(recommended) - 1
	if res, _ := assigned.json["result"].(map[string]any); res["applications"] != float64(nPassed) {
		t.Fatalf("assignment: %s", assigned.body)
	}
	var view projections.SelectionBatchRecord
	s.eventually(20*time.Second, "assignments in the read model", func() bool {
		r := s.call("GET", path, s.admin, nil)
		view = projections.SelectionBatchRecord{}
		if err := json.Unmarshal(r.body, &view); err != nil || r.status != http.StatusOK {
			return false
		}
		n := 0
		for _, a := range view.Applications {
			if len(a.Experts) == 3 {
				n++
			}
		}
		return n == nPassed
	})
	byExpert := map[string][]string{}
	for _, a := range view.Applications {
		for _, e := range a.Experts {
			byExpert[e] = append(byExpert[e], a.ApplicationID)
		}
	}
	// Marks: a few applications get one excellent sheet from every expert, so
	// they tie on mean, median and the first-weighted criterion and the
	// recorded tie-break (earlier submission) orders them.
	tied := map[string]bool{}
	for i, id := range recommended {
		if i%9 == 4 && id != failed {
			tied[id] = true
		}
	}
	marks := func(app, expert string) []int {
		if tied[app] {
			return []int{48, 33, 19}
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(app + "/" + expert))
		x := h.Sum64()
		return []int{25 + int(x%26), 17 + int(x>>8%19), 10 + int(x>>16%11)}
	}
	parallel(len(experts), func(i int) {
		e := experts[i]
		var sheets []map[string]any
		for _, app := range byExpert[e.id] {
			sheets = append(sheets, map[string]any{"application": app, "criteria": marks(app, e.id)})
		}
		if len(sheets) > 0 {
			s.must(http.StatusOK, "POST", path+"/scores", e.token, map[string]any{"scores": sheets, "declare_no_conflict": true})
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	rank := s.must(http.StatusOK, "POST", path+"/rank", s.admin, nil)
	proposal, _ := rank.json["result"].(map[string]any)
	round, _ := proposal["round"].(float64)
	s.must(http.StatusOK, "POST", path+"/confirm", s.admin, map[string]any{"round": int(round)})
	s.must(http.StatusOK, "POST", path+"/advance", s.admin, map[string]any{"from": "expert_review", "to": "notice"})
	if t.Failed() {
		t.FailNow()
	}

	// Public notice: anyone reads it; two real-name objections, the first
	// form sent twice.
	var page reply
	s.eventually(20*time.Second, "the public notice", func() bool {
		page = s.call("GET", "/public/notices/"+batch, "", nil)
		return page.status == http.StatusOK
	})
	list := tableIDs(page.body)
	if len(list) != quota {
		t.Fatalf("notice lists %d applications: %s", len(list), page.body)
	}
	object := func(app, name, contact, text string) string {
		p := s.must(http.StatusOK, "GET", "/public/notices/"+batch, "", nil)
		m := formTokenRE.FindSubmatch(p.body)
		if m == nil {
			t.Fatalf("no form token in %s", p.body)
		}
		form := url.Values{"name": {name}, "contact": {contact}, "application": {app}, "text": {text}, "form_token": {string(m[1])}}
		var ids []string
		for range 2 {
			r := s.must(http.StatusCreated, "POST", "/public/notices/"+batch+"/objections", "", form)
			f := filedRE.FindSubmatch(r.body)
			if f == nil {
				t.Fatalf("no objection number in %s", r.body)
			}
			ids = append(ids, string(f[1]))
		}
		if ids[0] != ids[1] {
			t.Fatalf("the same form sent twice filed %v", ids)
		}
		return ids[0]
	}
	upheldApp, dismissedApp := list[2], list[0]
	upheld := object(upheldApp, "欧阳明", "13812345678", "该校在校生人数与实际不符")
	dismissed := object(dismissedApp, "司马青", "objector@example.cn", "该校师资数据存疑")
	filed := 0
	for _, e := range s.batchStream(batch) {
		if e.Type == selection.TypeObjectionFiled {
			filed++
		}
	}
	if filed != 2 {
		t.Fatalf("%d objections filed, want 2", filed)
	}
	s.must(http.StatusOK, "POST", path+"/objections/"+upheld+"/adjudicate", s.admin, map[string]any{"outcome": "upheld", "reason": "经核查属实"})
	s.must(http.StatusOK, "POST", path+"/objections/"+dismissed+"/adjudicate", s.admin, map[string]any{"outcome": "dismissed", "reason": "经核查数据真实"})

	// The notice ends when its deadline timer fires; then the ministry publishes.
	s.eventually(60*time.Second, "the end of the public notice", func() bool {
		for _, e := range s.batchStream(batch) {
			if e.Type == selection.TypeStageDeadlinePassed && decodeEvent[selection.StageDeadlinePassed](t, e).Stage == selection.StageNotice {
				return true
			}
		}
		return false
	})
	s.must(http.StatusOK, "POST", path+"/publish", s.admin, nil)
	var pubPage reply
	s.eventually(20*time.Second, "the publication page", func() bool {
		pubPage = s.call("GET", "/public/publications/"+batch, "", nil)
		return pubPage.status == http.StatusOK
	})
	noticePage := s.must(http.StatusOK, "GET", "/public/notices/"+batch, "", nil)
	for _, secret := range []string{"欧阳明", "13812345678", "司马青", "objector@example.cn"} {
		if bytes.Contains(noticePage.body, []byte(secret)) || bytes.Contains(pubPage.body, []byte(secret)) {
			t.Fatalf("a public page shows the objector's %q", secret)
		}
	}

	// The expected list, computed here from the events alone.
	want := expectedPublication(t, s, batch)
	if len(want) != quota || slices.Contains(want, upheldApp) || !slices.Contains(want, dismissedApp) {
		t.Fatalf("expected list %v (upheld %s, dismissed %s)", want, upheldApp, dismissedApp)
	}
	// The tie-break must have had work to do: tied applications on the list.
	if n := len(slices.DeleteFunc(slices.Clone(want), func(id string) bool { return !tied[id] })); n < 2 {
		t.Fatalf("only %d tied applications published; the scenario no longer exercises the tie-break", n)
	}
	var published []string
	var projects []selection.ProjectCreated
	for _, e := range s.batchStream(batch) {
		if e.Type == selection.TypeSelectionBatchPublished {
			published = decodeEvent[selection.SelectionBatchPublished](t, e).List
		}
	}
	rows, err := s.d.Pool.Query(context.Background(), `SELECT data::text FROM events WHERE type = $1 ORDER BY stream_id`, selection.TypeProjectCreated)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			t.Fatal(err)
		}
		var p selection.ProjectCreated
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatal(err)
		}
		projects = append(projects, p)
	}
	rows.Close()
	slices.SortFunc(projects, func(a, b selection.ProjectCreated) int { return a.Rank - b.Rank })
	var projectApps []string
	for i, p := range projects {
		if p.Rank != i+1 || p.Province != appSchool[p.Application].province || p.BatchID != batch || p.TaskType != "YZYX" ||
			p.ProjectID != selection.ProjectID(batch, p.Application) {
			t.Errorf("project %+v", p)
		}
		projectApps = append(projectApps, p.Application)
	}
	xlsx := s.must(http.StatusOK, "GET", "/public/publications/"+batch+".xlsx", "", nil)
	for what, got := range map[string][]string{"published event": published, "publication page": tableIDs(pubPage.body),
		"workbook": workbookIDs(t, xlsx.body), "projects": projectApps} {
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v\nwant %v", what, got, want)
		}
	}

	// The batch's history replays on a worker with the same clock: the
	// dilated clock keeps the workflow deterministic.
	replayer := worker.NewWorkflowReplayer()
	workflows.RegisterWith(replayOnly{replayer}, nil, workflows.Options{Clock: s.clock})
	if err := replayer.ReplayWorkflowExecution(context.Background(), s.tc.WorkflowService(), nil, "default",
		workflow.Execution{ID: workflows.SelectionBatchWorkflowID(batch)}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	t.Logf("%d schools, %d recommended, %d passed, %d published; %d tied applications; the whole batch took %s",
		len(schools), len(recommended), nPassed, len(want), len(tied), time.Since(began).Round(time.Second))
}

// replayOnly registers workflows on a replayer; it has no activities to run.
type replayOnly struct{ worker.WorkflowReplayer }

func (replayOnly) RegisterActivity(any)                                         {}
func (replayOnly) RegisterActivityWithOptions(any, activity.RegisterOptions)    {}
func (replayOnly) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}
func (replayOnly) RegisterNexusService(*nexus.Service)                          {}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tableIDs(page []byte) []string {
	var out []string
	for _, m := range rowRE.FindAllSubmatch(page, -1) {
		out = append(out, string(m[2]))
	}
	return out
}

func workbookIDs(t *testing.T, data []byte) []string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, row := range rows[1:] {
		if len(row) < 2 || row[0] != fmt.Sprint(i+1) {
			t.Fatalf("workbook row %d: %v", i+2, row)
		}
		out = append(out, row[1])
	}
	return out
}

// expectedPublication ranks the batch from its events, independently of
// domain/scoring: each expert's weighted total is Σ weight × mark / max in
// exact rationals; applications order by mean total, then median total, then
// the mean mark on the criterion of greatest weight (the first such), then
// the earlier first submission, then the smaller id; the first quota are
// selected, and those whose objection was upheld leave the list.
func expectedPublication(t *testing.T, s *site, batch string) []string {
	t.Helper()
	var opened selection.SelectionBatchOpened
	outcome := map[string]selection.Outcome{}
	marks := map[string]map[string][]int{} // application → expert → marks
	removed := map[string]bool{}
	for _, e := range s.batchStream(batch) {
		switch e.Type {
		case selection.TypeSelectionBatchOpened:
			opened = decodeEvent[selection.SelectionBatchOpened](t, e)
		case selection.TypeQualificationDecided:
			for _, d := range decodeEvent[selection.QualificationDecided](t, e).Decisions {
				outcome[d.Application] = d.Outcome
			}
		case selection.TypeCorrectionResubmitted:
			outcome[decodeEvent[selection.CorrectionResubmitted](t, e).Application] = ""
		case selection.TypeScoresSubmitted:
			sc := decodeEvent[selection.ScoresSubmitted](t, e)
			for _, a := range sc.Scores {
				if marks[a.Application] == nil {
					marks[a.Application] = map[string][]int{}
				}
				marks[a.Application][sc.Expert] = a.Criteria
			}
		case selection.TypeObjectionAdjudicated:
			if o := decodeEvent[selection.ObjectionAdjudicated](t, e); o.Outcome == selection.Upheld {
				removed[o.Application] = true
			}
		}
	}
	lead := 0
	for i, c := range opened.Rubric.Criteria {
		if c.Weight > opened.Rubric.Criteria[lead].Weight {
			lead = i
		}
	}
	type entry struct {
		id                 string
		mean, median, lead *big.Rat
		submitted          time.Time
	}
	var entries []entry
	for id, o := range outcome {
		if o != selection.Passed {
			continue
		}
		var totals []*big.Rat
		leadSum := new(big.Rat)
		for _, m := range marks[id] {
			total := new(big.Rat)
			for i, c := range opened.Rubric.Criteria {
				total.Add(total, big.NewRat(int64(c.Weight*m[i]), int64(c.Max)))
			}
			totals = append(totals, total)
			leadSum.Add(leadSum, big.NewRat(int64(m[lead]), 1))
		}
		if len(totals) != opened.PerApplication {
			t.Fatalf("%s has %d score sheets, want %d", id, len(totals), opened.PerApplication)
		}
		k := big.NewRat(int64(len(totals)), 1)
		mean := new(big.Rat)
		for _, x := range totals {
			mean.Add(mean, x)
		}
		mean.Quo(mean, k)
		slices.SortFunc(totals, func(a, b *big.Rat) int { return a.Cmp(b) })
		median := new(big.Rat).Set(totals[len(totals)/2])
		if len(totals)%2 == 0 {
			median.Add(totals[len(totals)/2-1], totals[len(totals)/2]).Quo(median, big.NewRat(2, 1))
		}
		subs, err := s.store.ReadStream(context.Background(), selection.ApplicationStream(id), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var first time.Time
		for _, e := range subs {
			if e.Type == selection.TypeApplicationSubmitted {
				first = decodeEvent[selection.ApplicationSubmitted](t, e).At
				break
			}
		}
		entries = append(entries, entry{id: id, mean: mean, median: median, lead: leadSum.Quo(leadSum, k), submitted: first})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := b.mean.Cmp(a.mean); c != 0 {
			return c
		}
		if c := b.median.Cmp(a.median); c != 0 {
			return c
		}
		if c := b.lead.Cmp(a.lead); c != 0 {
			return c
		}
		if c := a.submitted.Compare(b.submitted); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	var out []string
	for _, e := range entries[:min(opened.Quota, len(entries))] {
		if !removed[e.id] {
			out = append(out, e.id)
		}
	}
	// Each one struck out is replaced by the next-ranked one left (递补),
	// appended in the order they moved up.
	next := min(opened.Quota, len(entries))
	for _, e := range entries[:next] {
		if !removed[e.id] {
			continue
		}
		for next < len(entries) && removed[entries[next].id] {
			next++
		}
		if next < len(entries) && next < 2*opened.Quota {
			out = append(out, entries[next].id)
			next++
		}
	}
	return out
}

// seedFiledIntents records a plan batch of the notice's task items and an
// intent round of it, filed, in which each province undertook quantity of
// item, as the plan batch's command and the round's workflow record them.
func (s *site) seedFiledIntents(plan, round, item string, provinces []string, quantity int64) {
	s.t.Helper()
	items, err := intent.ParseTaskItemsCSV(bytes.NewReader(reference.KeyTasks2022Batch1))
	if err != nil {
		s.t.Fatal(err)
	}
	seed := func(stream, typ string, payload any) {
		data, err := json.Marshal(payload)
		if err != nil {
			s.t.Fatal(err)
		}
		if _, err := s.store.Append(context.Background(), stream, events.AnyVersion, events.NewEvent{
			ID: events.DeriveID("scenario-seed", stream, typ), Type: typ, SchemaVersion: 1, Data: data,
			Metadata: events.Metadata{ActorID: "admin", Role: string(identity.RoleMinistry)},
		}); err != nil {
			s.t.Fatal(err)
		}
	}
	seed(intent.PlanStream(plan), intent.TypePlanBatchOpened, intent.PlanBatchOpened{BatchID: plan, Name: "2022年第一批", Items: items})
	seed(intent.RoundStream(round), intent.TypeIntentRoundOpened, intent.IntentRoundOpened{RoundID: round, BatchID: plan, Items: items,
		Provinces: provinces, Deadline: time.Now().Add(time.Hour)})
	for _, p := range provinces {
		seed(intent.FormStream(round, p), intent.TypeIntentSubmitted, intent.IntentSubmitted{RoundID: round, Province: p,
			Form: intent.Form{Lines: []intent.Line{{Item: item, Undertake: true, Quantity: quantity}}}})
	}
	seed(intent.RoundStream(round), intent.TypeIntentRoundFiled, intent.IntentRoundFiled{RoundID: round})
}
