package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/projections"
)

// auditPageRoutes are the auditor's pages: the read models as of a past
// instant, the difference between two instants, a subject's event history and
// the explanation of a published result. Each page answers with the same
// function as its JSON route and declares the same resource, so the policy
// and the rules are the API's.
func (s *Server) auditPageRoutes() []Route {
	read := policy.ActionRead
	return []Route{
		{Pattern: "GET /web/audit/{$}", Action: read, Resource: auditResource("replay"), page: true, handle: s.auditIndexPage},
		{Pattern: "GET /web/audit/replay", Action: read, Resource: auditResource("replay"), page: true, handle: s.auditReplayPage},
		{Pattern: "GET /web/audit/diff", Action: read, Resource: auditResource("diff"), page: true, handle: s.auditDiffPage},
		{Pattern: "GET /web/audit/history", Action: read, Resource: auditResource("history"), page: true, handle: s.auditHistoryPage},
		{Pattern: "GET /web/applications/{id}/explanation", Action: read, Resource: s.applicationResource(false), page: true, handle: s.explanationPage},
		{Pattern: "GET /web/applications/{id}/evaluation", Action: read, Resource: s.applicationResource(false), page: true, handle: s.evaluationPage},
	}
}

// pageInstantLayouts are the ways a page's date-time control sends an instant
// in Beijing time: a browser's datetime-local, with or without seconds, and a
// typed date and time.
var pageInstantLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// pageInstant turns a page's pair of controls for one instant (prefix +
// "position", a log position, or prefix + "at", a date-time in Beijing time)
// into the value the API's field takes: the position, or the time in RFC 3339.
// Errors name the page's control.
func pageInstant(q url.Values, prefix string) (string, error) {
	pos, at := strings.TrimSpace(q.Get(prefix+"position")), strings.TrimSpace(q.Get(prefix+"at"))
	switch {
	case pos != "" && at != "":
		return "", badRequest(prefix+"at", "日志位置与北京时间只能填写一项", "both "+prefix+"position and "+prefix+"at given")
	case pos != "":
		return pos, nil
	case at == "":
		return "", badRequest(prefix+"position", "请填写日志位置或北京时间", "neither "+prefix+"position nor "+prefix+"at given")
	}
	for _, l := range pageInstantLayouts {
		if t, err := time.ParseInLocation(l, at, shanghai); err == nil {
			return t.Format(time.RFC3339Nano), nil
		}
	}
	return "", badRequest(prefix+"at", "北京时间应形如 2022-06-15 10:00:00", fmt.Sprintf("%s %q is not a date-time", prefix+"at", at))
}

// withAPIQuery is r with its query replaced, so that the API's functions read
// the page's controls under the API's field names.
func withAPIQuery(r *http.Request, q url.Values) *http.Request {
	r2 := r.Clone(r.Context())
	u := *r.URL
	u.RawQuery = q.Encode()
	r2.URL = &u
	return r2
}

// instantLabels name the pages' instant controls in their messages.
var instantLabels = map[string]string{"position": "日志位置", "at": "北京时间", "from_position": "起点日志位置",
	"from_at": "起点北京时间", "to_position": "终点日志位置", "to_at": "终点北京时间"}

// renamedField moves a refusal naming the API's field onto the page's
// control, and names the control in the message as the page does.
func renamedField(err error, names map[string]string) error {
	var he *httpError
	if errors.As(err, &he) {
		if to, ok := names[he.field]; ok {
			c := *he
			c.field = to
			for api, control := range names {
				if label, ok := instantLabels[control]; ok {
					c.message = regexp.MustCompile(` ?\b`+regexp.QuoteMeta(api)+`\b ?`).ReplaceAllLiteralString(c.message, label)
				}
			}
			return &c
		}
	}
	return err
}

// refusedForm renders page again with a bad request's message beside the
// control it names; any other error is returned for the error page.
func (s *Server) refusedForm(w http.ResponseWriter, r *http.Request, err error, page, title string, data any) error {
	var he *httpError
	if !errors.As(err, &he) || he.status != http.StatusBadRequest {
		return err
	}
	return s.render(w, r, http.StatusBadRequest, page, pageData{Title: title, Data: data, Form: r.URL.Query(),
		Errors: map[string]string{he.field: he.message}, Error: "请按提示修改后重新查询"})
}

// instantField is which page control an instant came from.
func instantField(q url.Values, prefix string) string {
	if strings.TrimSpace(q.Get(prefix+"position")) != "" {
		return prefix + "position"
	}
	return prefix + "at"
}

func (s *Server) auditIndexPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "audit_index.html", pageData{Title: "审计"})
}

// auditTableRow is one read-model table in the replay page.
type auditTableRow struct {
	Projection, Digest, Table string
	Rows                      int64
	First                     bool // the projection's first table: shows its name and digest
	Span                      int
}

// auditReplayData is the replay page.
type auditReplayData struct {
	Asked    bool
	Position int64
	AsOf     string // the instant asked for when it was a time, in Beijing time
	Tables   []auditTableRow
	Table    *replayTable
	Columns  []string
	Cells    [][]string
}

func (s *Server) auditReplayPage(w http.ResponseWriter, r *http.Request) error {
	const title = "时点回放"
	q := r.URL.Query()
	if q.Get("position") == "" && q.Get("at") == "" {
		return s.render(w, r, http.StatusOK, "audit_replay.html", pageData{Title: title, Data: auditReplayData{}, Form: q})
	}
	asOf, err := pageInstant(q, "")
	if err != nil {
		return s.refusedForm(w, r, err, "audit_replay.html", title, auditReplayData{})
	}
	api := url.Values{"as_of": {asOf}}
	for _, k := range []string{"table", "limit"} {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			api.Set(k, v)
		}
	}
	ans, err := s.replay(withAPIQuery(r, api))
	if err != nil {
		return s.refusedForm(w, r, renamedField(err, map[string]string{"as_of": instantField(q, "")}), "audit_replay.html", title, auditReplayData{})
	}
	d := auditReplayData{Asked: true, Position: ans.Position, Table: ans.Table}
	if q.Get("position") == "" {
		if t, err := time.Parse(time.RFC3339Nano, asOf); err == nil {
			d.AsOf = "北京时间 " + t.In(shanghai).Format("2006-01-02 15:04:05")
		}
	}
	names := make([]string, 0, len(ans.Tables))
	for n := range ans.Tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tables := make([]string, 0, len(ans.Tables[n]))
		for t := range ans.Tables[n] {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		for i, t := range tables {
			d.Tables = append(d.Tables, auditTableRow{Projection: n, Digest: ans.Digests[n], Table: t, Rows: ans.Tables[n][t],
				First: i == 0, Span: len(tables)})
		}
	}
	if ans.Table != nil {
		d.Columns, d.Cells = rowCells(ans.Table.Rows)
	}
	return s.render(w, r, http.StatusOK, "audit_replay.html", pageData{Title: title, Data: d, Form: q})
}

// rowCells lays rows (JSON objects) out as a table: the union of their keys
// as columns, each value as compact JSON (strings bare).
func rowCells(rows []json.RawMessage) ([]string, [][]string) {
	var cols []string
	objs := make([]map[string]json.RawMessage, len(rows))
	for i, raw := range rows {
		if err := json.Unmarshal(raw, &objs[i]); err != nil {
			objs[i] = map[string]json.RawMessage{"": raw}
		}
		for k := range objs[i] {
			if !slices.Contains(cols, k) {
				cols = append(cols, k)
			}
		}
	}
	sort.Strings(cols)
	cells := make([][]string, len(objs))
	for i, o := range objs {
		cells[i] = make([]string, len(cols))
		for j, c := range cols {
			v, ok := o[c]
			if !ok {
				continue
			}
			var str string
			if json.Unmarshal(v, &str) == nil {
				cells[i][j] = str
			} else {
				cells[i][j] = string(v)
			}
		}
	}
	return cols, cells
}

// auditDiffData is the diff page.
type auditDiffData struct {
	Asked   bool
	Diff    projections.Diff
	Changed []auditChanged
}

type auditChanged struct{ Projection, From, To string }

func (s *Server) auditDiffPage(w http.ResponseWriter, r *http.Request) error {
	const title = "两个时点对比"
	q := r.URL.Query()
	if q.Get("from_position") == "" && q.Get("from_at") == "" && q.Get("to_position") == "" && q.Get("to_at") == "" {
		return s.render(w, r, http.StatusOK, "audit_diff.html", pageData{Title: title, Data: auditDiffData{}, Form: q})
	}
	api := url.Values{}
	for _, side := range []string{"from", "to"} {
		v, err := pageInstant(q, side+"_")
		if err != nil {
			return s.refusedForm(w, r, err, "audit_diff.html", title, auditDiffData{})
		}
		api.Set(side, v)
	}
	if v := strings.TrimSpace(q.Get("rows")); v != "" {
		api.Set("rows", v)
	}
	d, err := s.diff(withAPIQuery(r, api))
	if err != nil {
		err = renamedField(err, map[string]string{"from": instantField(q, "from_"), "to": instantField(q, "to_")})
		return s.refusedForm(w, r, err, "audit_diff.html", title, auditDiffData{})
	}
	out := auditDiffData{Asked: true, Diff: d}
	for _, p := range d.Changed {
		out.Changed = append(out.Changed, auditChanged{Projection: p, From: d.FromDigests[p], To: d.ToDigests[p]})
	}
	return s.render(w, r, http.StatusOK, "audit_diff.html", pageData{Title: title, Data: out, Form: q})
}

// historyKind is a subject kind as the history form offers it.
type historyKind struct{ Value, Label string }

func (s *Server) historyKinds() []historyKind {
	out := make([]historyKind, len(projections.SubjectKinds))
	for i, k := range projections.SubjectKinds {
		out[i] = historyKind{Value: string(k), Label: k.Zh()}
	}
	return out
}

// auditHistoryData is the history page.
type auditHistoryData struct {
	Kinds   []historyKind
	Asked   bool
	Kind    projections.SubjectKind
	ID      string
	Entries []historyRow
	JSONL   string // download links: the API's exports
	XLSX    string
}

func (s *Server) auditHistoryPage(w http.ResponseWriter, r *http.Request) error {
	const title = "事件历史"
	q := r.URL.Query()
	d := auditHistoryData{Kinds: s.historyKinds()}
	kindText, id := q.Get("kind"), strings.TrimSpace(q.Get("id"))
	if kindText == "" && id == "" {
		return s.render(w, r, http.StatusOK, "audit_history.html", pageData{Title: title, Data: d, Form: q})
	}
	kind, err := projections.ParseSubjectKind(kindText)
	if err != nil {
		return s.refusedForm(w, r, badRequest("kind", "请选择对象类型：申报、批次、省份或项目", err.Error()), "audit_history.html", title, d)
	}
	if id == "" {
		return s.refusedForm(w, r, badRequest("id", "请填写对象编号", "missing id"), "audit_history.html", title, d)
	}
	entries, err := projections.History(r.Context(), s.pool, kind, id, principal(r.Context()))
	if err != nil {
		return err
	}
	rows := make([]historyRow, len(entries))
	for i, e := range entries {
		rows[i] = historyRow{HistoryEntry: e, RoleLabel: identity.Role(e.Role).Label(), DataText: indentJSON(e.Data)}
		if rows[i].RoleLabel == "" {
			rows[i].RoleLabel = e.Role
		}
	}
	base := "/api/v1/audit/history/" + url.PathEscape(string(kind)) + "/" + url.PathEscape(id)
	d.Asked, d.Kind, d.ID, d.Entries, d.JSONL, d.XLSX = true, kind, id, rows, base+"?format=jsonl", base+"?format=xlsx"
	return s.render(w, r, http.StatusOK, "audit_history.html", pageData{Title: title, Data: d, Form: q})
}

// historyRow is one event of the history page.
type historyRow struct {
	projections.HistoryEntry
	RoleLabel string // the role in Chinese
	DataText  string // the event's data, indented
}

// indentJSON is raw laid out for reading; raw as it is if it is not JSON.
func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func (s *Server) evaluationPage(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.evaluateApplication(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "evaluation.html", pageData{Title: "评审情况摘要", Data: ev, Print: true})
}

func (s *Server) explanationPage(w http.ResponseWriter, r *http.Request) error {
	x, err := s.explainApplication(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "audit_explanation.html", pageData{Title: "遴选结果说明", Data: x, Print: true})
}
