package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/events"
	"keytask/projections"
)

// fuzzReportTaskType is the task type the fuzzed reports are validated against.
const fuzzReportTaskType = "YZYX"

// FuzzDecodeReport sends a performance report body through the API's decoder
// and the domain's validator, the path of PUT …/draft and POST …/submit. Every
// refusal is a 400/413 or a field error with a Chinese message; a decoder error
// names a field the body spells (in any case, as encoding/json matches keys);
// what the API answers for an accepted report, sent back as the client's next
// body, validates to the same report.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{
		`{"planned":{"school":100,"industry":"20.5","sponsor":0,"municipal":30,"provincial":50},"spent":{"school":90,"industry":"20.5","sponsor":0,"municipal":"12.3456","provincial":50},"indicators":{"students_enrolled":5200,"graduate_employment":97,"teachers_trained":340},"summary":"完成实训基地改造"}`,
		`{"Planned":{"school":1},"SPENT":{"school":2},"deviation":"追加采购","summary":"x"}`,
		`{"planned":[1]}`, `{"indicators":{"students_enrolled":1.5}}`, `{"summary":1}`, `{"summary":"a\u0000"}`,
		`{"plan":{}}`, `{"planned":{}} {}`, `[]`, ``, `{`, `null`, `{"spent":{"school":1e3}}`, `{"indicators":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in performance.ReportInput
		err := decodeJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(body)), &in)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || (he.status != http.StatusBadRequest && he.status != http.StatusRequestEntityTooLarge) || !hasHan(he.message) {
				t.Fatalf("decode(%q): %T %v is not a 400/413 in Chinese", body, err, err)
			}
			for _, part := range strings.Split(he.field, ".") {
				if !bytes.Contains(foldCase(body), foldCase([]byte(part))) && !jsonEscapedIn(body, part) {
					t.Fatalf("decode(%q): error names field %q, which the body does not spell", body, he.field)
				}
			}
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("decode accepted invalid JSON %q", body)
		}
		for _, complete := range []bool{false, true} {
			rep, err := performance.Validate(performance.Indicators, fuzzReportTaskType, in, complete)
			if err != nil {
				var fe *domain.FieldError
				if !errors.As(err, &fe) || fe.Field == "" || !hasHan(fe.Message) {
					t.Fatalf("Validate after decode(%q): %T %v names no field", body, err, err)
				}
				continue
			}
			// The client reads the answer's report and sends it back.
			answer, err := json.Marshal(map[string]any{"report": reportOf(&rep)})
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Report struct {
					Planned, Spent map[string]moneyView
					Indicators     map[string]json.RawMessage
					Summary        string
					Deviation      string
				}
			}
			if err := json.Unmarshal(answer, &got); err != nil {
				t.Fatal(err)
			}
			next := map[string]any{"planned": map[string]string{}, "spent": map[string]string{}, "indicators": got.Report.Indicators,
				"summary": got.Report.Summary, "deviation": got.Report.Deviation}
			for _, s := range intent.Sources {
				for block, view := range map[string]map[string]moneyView{"planned": got.Report.Planned, "spent": got.Report.Spent} {
					m := view[string(s)]
					if y, err := intent.ParseWan(m.Wan); err != nil || int64(y) != m.Yuan {
						t.Fatalf("decode(%q): answer's %s.%s is %+v", body, block, s, m)
					}
					next[block].(map[string]string)[string(s)] = m.Wan
				}
			}
			b, err := json.Marshal(next)
			if err != nil {
				t.Fatal(err)
			}
			var in2 performance.ReportInput
			if err := decodeJSON(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(b)), &in2); err != nil {
				t.Fatalf("decode(%q) answered %s; sent back as %s it is refused: %v", body, answer, b, err)
			}
			rep2, err := performance.Validate(performance.Indicators, fuzzReportTaskType, in2, complete)
			if err != nil || !reflect.DeepEqual(rep, rep2) {
				t.Fatalf("decode(%q) validated to %+v; sent back as %s it validates to %+v, %v", body, rep, b, rep2, err)
			}
		}
	})
}

// FuzzReportForm posts the report page's form as a browser would. Every value
// typed into a field of the report reaches the validator, whose refusal names a
// field of the form in Chinese; an accepted report, shown on the page as a
// draft and posted again unchanged, saves the same draft.
func FuzzReportForm(f *testing.F) {
	for _, s := range []string{
		"planned.school=100&planned.industry=20.5&spent.school=90&indicators.students_enrolled=5200&summary=%E8%BF%9B%E5%B1%95",
		"planned.school=+1+&spent.school=2&deviation=%E8%B6%85&action=submit", "indicators.graduate_employment=%2297%22",
		"indicators.students_enrolled=1e3&planned.bank=1", "spent.=1&indicators.=2", "summary=%00", "planned.school=%ff",
		"planned=1&spent.school.x=1", "%zz", "indicators.teachers_trained=%5B1%5D",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return // answered 400 无法读取表单
		}
		in := reportInput(r.PostForm)
		for k := range r.PostForm {
			block, key, _ := strings.Cut(k, ".")
			sent := map[string]map[string]json.RawMessage{"planned": in.Planned, "spent": in.Spent, "indicators": in.Indicators}[block]
			if _, ok := sent[key]; sent != nil && strings.TrimSpace(r.PostForm.Get(k)) != "" && !ok {
				t.Fatalf("form %q: %s = %q never reaches the validator", body, k, r.PostForm.Get(k))
			}
		}
		complete := r.PostForm.Get("action") == "submit"
		rep, err := performance.Validate(performance.Indicators, fuzzReportTaskType, in, complete)
		if err != nil {
			var fe *domain.FieldError
			if !errors.As(err, &fe) || !hasHan(fe.Message) {
				t.Fatalf("form %q: %T %v", body, err, err)
			}
			block, key, _ := strings.Cut(fe.Field, ".")
			known := fe.Field == "summary" || fe.Field == "deviation" || slices.ContainsFunc(intent.Sources, func(s intent.Source) bool { return key == string(s) })
			tt, _ := performance.Indicators.For(fuzzReportTaskType)
			known = known || slices.ContainsFunc(tt.Indicators, func(i performance.Indicator) bool { return block == "indicators" && key == i.Key })
			for k := range r.PostForm {
				// A long key is shortened by runes, bytes that are no UTF-8 read as U+FFFD.
				for _, k := range []string{k, string([]rune(k))} {
					// A key without a dot ("planned") reads as that block's empty key.
					known = known || k == fe.Field || k+"." == fe.Field || (strings.HasSuffix(fe.Field, "…") && strings.HasPrefix(k, strings.TrimSuffix(fe.Field, "…")))
				}
			}
			if !known {
				t.Fatalf("form %q: error names %q, no field of the form", body, fe.Field)
			}
			return
		}
		// The page shows a draft's zero amounts empty (see renderReport).
		shown := url.Values{"summary": {rep.Summary}, "deviation": {rep.Deviation}}
		for _, s := range intent.Sources {
			for block, funds := range map[string]intent.Funds{"planned": rep.Planned, "spent": rep.Spent} {
				if y := funds.Get(s); y != 0 {
					shown.Set(block+"."+string(s), y.Wan())
				}
			}
		}
		for k, v := range rep.Indicators {
			shown.Set("indicators."+k, fmt.Sprint(v))
		}
		r2 := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(shown.Encode()))
		r2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r2.ParseForm(); err != nil {
			t.Fatal(err)
		}
		rep2, err := performance.Validate(performance.Indicators, fuzzReportTaskType, reportInput(r2.PostForm), false)
		if err != nil || !reflect.DeepEqual(rep, rep2) {
			t.Fatalf("form %q saved %+v; shown and posted again as %q it saves %+v, %v", body, rep, shown.Encode(), rep2, err)
		}
	})
}

// fuzzReports are the reports the query targets' server holds.
var fuzzReports = []performance.ReportOpened{
	{Year: 2022, ProjectID: "p1", TaskType: "YZYX", School: "s1", Province: "11"},
	{Year: 2022, ProjectID: "p2", TaskType: "JPKC", School: "s2", Province: "44"},
	{Year: 2022, ProjectID: "p3", TaskType: "YZYX", School: "s3", Province: "44"},
	{Year: 2023, ProjectID: "p4", TaskType: "YZYX", School: "s1", Province: "11"},
}

// fuzzReportServer is fuzzServer with the reports of fuzzReports opened, each
// in a transaction of its own (so at instants of their own), and the whole
// log sealed, as the auditor reads it.
func fuzzReportServer(f *testing.F) *Server {
	f.Helper()
	s := fuzzServer(f)
	ctx := context.Background()
	for _, o := range fuzzReports {
		data, err := json.Marshal(o)
		if err != nil {
			f.Fatal(err)
		}
		stream := performance.ReportStream(o.Year, o.ProjectID)
		if _, err := s.store.Append(ctx, stream, 0, events.NewEvent{ID: events.DeriveID(stream, "opened"), Type: performance.TypeReportOpened,
			SchemaVersion: 1, Data: data, Metadata: events.Metadata{ActorID: "system", Role: "system"}}); err != nil {
			f.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := projections.Rebuild(ctx, s.pool, s.store, projections.Performance{}, nil); err != nil {
		f.Fatal(err)
	}
	if err := s.store.SealCommitted(ctx); err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzPerformanceQuery lists a year's reports and roll-ups with any year in the
// path and any filters in the query, as the ministry or as province 11. A year
// that is not a whole number 2000..2100 is 404; a filter that is not text
// Postgres can compare is 400 naming it; otherwise 200 with exactly the reports
// of the year that match the filters, narrowed to a province's own.
func FuzzPerformanceQuery(f *testing.F) {
	for _, c := range []struct{ year, query string }{
		{"2022", ""}, {"2022", "province=44"}, {"2022", "task_type=YZYX&province=11"}, {"2023", "province=44"},
		{"1999", ""}, {"2101", ""}, {"+2022", ""}, {"02022", ""}, {"abc", ""}, {"2022", "province=%00"},
		{"2022", "task_type=%ff"}, {"2022", "province=11&province=44"}, {"2022", "%zz"}, {"2022", "school=s2"},
	} {
		f.Add(c.year, c.query, false)
		f.Add(c.year, c.query, true)
	}
	s := fuzzReportServer(f)
	f.Fuzz(func(t *testing.T, year, query string, asProvince bool) {
		p := fuzzAdmin
		if asProvince {
			p = identity.Principal{UserID: "p11", Role: identity.RoleProvince, Organisation: "11"}
		}
		request := func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL.RawQuery = query
			r.SetPathValue("year", year)
			return r.WithContext(withPrincipal(r.Context(), p))
		}
		q := request().URL.Query()
		y, yerr := strconv.Atoi(year)
		validYear := yerr == nil && y >= 2000 && y <= 2100
		badText := func(k string) bool { v := q.Get(k); return !utf8.ValidString(v) || strings.ContainsRune(v, 0) }

		w := httptest.NewRecorder()
		err := s.listPerformanceReports(w, request())
		rw := httptest.NewRecorder()
		rerr := s.performanceRollups(rw, request())
		var he *httpError
		switch {
		case !validYear:
			for _, err := range []error{err, rerr} {
				if !errors.As(err, &he) || he.status != http.StatusNotFound || !hasHan(he.message) {
					t.Fatalf("year %q ?%s: %v, want 404", year, query, err)
				}
			}
			return
		case badText("province") || badText("task_type"):
			for _, err := range []error{err, rerr} {
				if !errors.As(err, &he) || he.status != http.StatusBadRequest || !hasHan(he.message) || !badText(he.field) {
					t.Fatalf("year %q ?%q: %v, want 400 naming the filter", year, query, err)
				}
			}
			return
		}
		if err != nil || rerr != nil {
			t.Fatalf("year %q ?%q refused: %v / %v", year, query, err, rerr)
		}
		province := q.Get("province")
		if asProvince {
			province = "11"
		}
		var want []string
		for _, o := range fuzzReports {
			if o.Year == y && (province == "" || o.Province == province) && (q.Get("task_type") == "" || o.TaskType == q.Get("task_type")) {
				want = append(want, o.ProjectID)
			}
		}
		var body struct {
			Year    int `json:"year"`
			Reports []struct {
				ProjectID string `json:"project_id"`
			} `json:"reports"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Year != y {
			t.Fatalf("year %q ?%q: %d %s", year, query, w.Code, w.Body)
		}
		var got []string
		for _, r := range body.Reports {
			got = append(got, r.ProjectID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("year %q ?%q as %s: reports %v, want %v", year, query, p.Role, got, want)
		}
		var rollups struct {
			Rollups []struct {
				Province string `json:"province"`
				TaskType string `json:"task_type"`
				Reports  int    `json:"reports"`
			} `json:"rollups"`
		}
		if rw.Code != http.StatusOK || json.Unmarshal(rw.Body.Bytes(), &rollups) != nil {
			t.Fatalf("year %q ?%q rollups: %d %s", year, query, rw.Code, rw.Body)
		}
		n := 0
		for _, ru := range rollups.Rollups {
			if (province != "" && ru.Province != province) || (q.Get("task_type") != "" && ru.TaskType != q.Get("task_type")) {
				t.Fatalf("year %q ?%q as %s: roll-up %+v outside the filter", year, query, p.Role, ru)
			}
			n += ru.Reports
		}
		if n != len(want) {
			t.Fatalf("year %q ?%q as %s: roll-ups count %d reports, want %d", year, query, p.Role, n, len(want))
		}
	})
}

// rfc3339 is the grammar of an RFC 3339 date-time (section 5.6).
var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// FuzzAuditAsOf reads the auditor's ?as_of= (and ?limit=) as a replay does. An
// instant is a log position 0..head or an RFC 3339 time, else 400 naming
// as_of; a position resolves to itself, a time to the number of sealed events
// recorded at or before it, and a time's canonical form resolves the same.
func FuzzAuditAsOf(f *testing.F) {
	for _, q := range []string{"as_of=0", "as_of=3", "as_of=9", "as_of=10", "as_of=-1", "as_of=%2B2", "as_of=007", "as_of=",
		"as_of=2022-06-15T10:00:00%2B08:00", "as_of=2999-01-01T00:00:00Z", "as_of=0001-01-01T00:00:00Z", "as_of=2022-06-15",
		"as_of=2022-06-15T10:00:00.123456789Z", "as_of=2022-06-15t10:00:00z", "as_of=99999999999999999999", "limit=5&as_of=1",
		"as_of=1&limit=1001", "as_of=1&limit=-1", "as_of=1&limit=x", "as_of=0000-01-01T00:00:00%2B23:59", "%zz"} {
		f.Add(q)
	}
	s := fuzzReportServer(f)
	ctx := context.Background()
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_chain`).Scan(&head); err != nil || head != 9 {
		f.Fatalf("sealed log head %d, %v; want the 9 events of the fixture", head, err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/audit/replay", nil)
		r.URL.RawQuery = query
		v := r.URL.Query().Get("as_of")
		a, pos, err := s.asOfParam(r, "as_of")
		parsed, perr := projections.ParseAsOf(v)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.field != "as_of" || !hasHan(he.message) {
				t.Fatalf("?%s: %v, want 400 naming as_of", query, err)
			}
			if perr == nil && parsed.Time.IsZero() && parsed.Position <= head {
				t.Fatalf("?%s: position %d of a log of %d refused: %v", query, parsed.Position, head, err)
			}
			if perr == nil && !parsed.Time.IsZero() {
				t.Fatalf("?%s: time %v refused: %v", query, parsed.Time, err)
			}
			return
		}
		if perr != nil || a.Position != parsed.Position || !a.Time.Equal(parsed.Time) {
			t.Fatalf("?%s: read %v, yet ParseAsOf says %v, %v", query, a, parsed, perr)
		}
		if pos < 0 || pos > head {
			t.Fatalf("?%s: position %d outside 0..%d", query, pos, head)
		}
		if a.Time.IsZero() {
			// Year 1's first instant is Go's zero time, read as position 0:
			// the same log, as nothing was recorded by then.
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && pos != n {
				t.Fatalf("?%s: %q read as position %d", query, v, pos)
			} else if t0, terr := time.Parse(time.RFC3339Nano, v); err != nil && (terr != nil || !t0.IsZero() || pos != 0) {
				t.Fatalf("?%s: %q read as position %d", query, v, pos)
			}
		} else {
			if !rfc3339.MatchString(v) {
				t.Fatalf("?%s: accepted %q as a time, which is not RFC 3339", query, v)
			}
			var n int64
			if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM event_chain c JOIN events e ON e.id = c.event_id WHERE e.recorded_at <= $1`, a.Time).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if pos != n {
				t.Fatalf("?%s: resolved to position %d; %d sealed events were recorded by then", query, pos, n)
			}
			// The answer shows the instant in its canonical form, which reads back
			// the same; in UTC, an offset can carry it out of RFC 3339's years
			// 0000..9999, which only such far instants show.
			if y := a.Time.UTC().Year(); y < 0 || y > 9999 {
				return
			}
			r2 := httptest.NewRequest(http.MethodGet, "/", nil)
			r2.URL.RawQuery = url.Values{"as_of": {a.String()}}.Encode()
			a2, pos2, err := s.asOfParam(r2, "as_of")
			if err != nil || !a2.Time.Equal(a.Time) || pos2 != pos {
				t.Fatalf("?%s: %v at %d; shown as %q it reads %v at %d, %v", query, a, pos, a.String(), a2, pos2, err)
			}
		}
		lv := r.URL.Query().Get("limit")
		limit, err := intParam(r, "limit", defaultAuditRows, maxAuditRows)
		n, aerr := strconv.Atoi(lv)
		switch {
		case lv == "":
			if err != nil || limit != defaultAuditRows {
				t.Fatalf("?%s: no limit reads %d, %v", query, limit, err)
			}
		case aerr == nil && n >= 0 && n <= maxAuditRows:
			if err != nil || limit != n {
				t.Fatalf("?%s: limit %d, %v", query, limit, err)
			}
		default:
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.field != "limit" || !hasHan(he.message) {
				t.Fatalf("?%s: limit %q: %v, want 400 naming limit", query, lv, err)
			}
		}
	})
}

// FuzzProjectsQuery lists the tracked projects with any ?status= and
// ?province=, and reads a project's timeline with any ?limit=: 200, or 400
// naming the parameter, never a server error.
func FuzzProjectsQuery(f *testing.F) {
	for _, q := range []string{"", "status=active", "status=bogus", "province=11&status=flagged", "province=%00", "province=%ff",
		"limit=1", "limit=0", "limit=1001", "limit=%2B5", "status=active&status=x", "%zz"} {
		f.Add(q)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		r.SetPathValue("project", "p1")
		r = r.WithContext(withPrincipal(r.Context(), fuzzAdmin))
		q := r.URL.Query()
		w := httptest.NewRecorder()
		if err := s.listProjects(w, r); err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != http.StatusBadRequest || !hasHan(he.message) || !slices.Contains([]string{"status", "province"}, he.field) {
				t.Fatalf("projects ?%q: %v, want 400 naming a filter", query, err)
			}
			if v := q.Get(he.field); he.field == "province" && utf8.ValidString(v) && !strings.ContainsRune(v, 0) {
				t.Fatalf("projects ?%q: refused province %q, which is valid text", query, v)
			}
		} else {
			var body struct {
				Projects []json.RawMessage `json:"projects"`
			}
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Projects == nil {
				t.Fatalf("projects ?%q: %d %s", query, w.Code, w.Body)
			}
		}
		w = httptest.NewRecorder()
		v := q.Get("limit")
		n, perr := strconv.Atoi(v)
		err := s.projectTimeline(w, r)
		if v == "" || (perr == nil && n >= 1 && n <= maxTimelineLimit) {
			if err != nil || w.Code != http.StatusOK {
				t.Fatalf("project timeline ?%q: %d, %v", query, w.Code, err)
			}
			return
		}
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusBadRequest || he.field != "limit" || !hasHan(he.message) {
			t.Fatalf("project timeline ?%q: %v, want 400 naming limit", query, err)
		}
	})
}
