package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/notifications"
	"keytask/projections"
	"keytask/workflows"
)

// performancePageRoutes are the yearly performance report's pages, the
// project and event timelines and the inbox.
func (s *Server) performancePageRoutes() []Route {
	const (
		read, write, admin = policy.ActionRead, policy.ActionWrite, policy.ActionAdminister
		year               = "/web/performance/{year}"
		report             = year + "/reports/{project}"
	)
	return []Route{
		{Pattern: "GET " + year, Action: read, Resource: performanceScope, page: true, handle: s.performanceListPage},
		{Pattern: "POST " + year + "/extend", Action: admin, Resource: nationalPerformance, page: true, handle: s.postExtendCollection},
		{Pattern: "GET " + report, Action: read, Resource: s.performanceReport(false), page: true, handle: s.reportPage},
		{Pattern: "POST " + report, Action: write, Resource: s.performanceReport(true), page: true, handle: s.postReport},
		{Pattern: "POST " + report + "/return", Action: admin, Resource: s.performanceReport(true), page: true, handle: s.postReturnReport},
		{Pattern: "POST " + report + "/lock", Action: admin, Resource: s.performanceReport(true), page: true, handle: s.postLockReport},
		{Pattern: "GET /web/projects/{project}/timeline", Action: read, Resource: s.projectResource(policy.KindProject), page: true, handle: s.projectTimelinePage},
		{Pattern: "GET /web/streams/{stream}/timeline", Action: read, Resource: streamOf, page: true, handle: s.streamTimelinePage},
		{Pattern: "GET /web/inbox", Action: read, Resource: ownInbox, page: true, handle: s.inboxPage},
		{Pattern: "POST /web/inbox/read", Action: write, Resource: ownInbox, page: true, handle: s.postInboxRead},
	}
}

func reportPath(year int, project string) string {
	return fmt.Sprintf("/web/performance/%d/reports/%s", year, url.PathEscape(project))
}

var reportStatusLabels = map[performance.Status]string{performance.StatusOpen: "未填报", performance.StatusDraft: "草稿",
	performance.StatusSubmitted: "已提交", performance.StatusReturned: "已退回", performance.StatusLocked: "已锁定"}

// reportEventLabels name a report stream's events for people.
var reportEventLabels = map[string]string{
	performance.TypeReportOpened: "开启填报", performance.TypeReportDraftSaved: "保存草稿", performance.TypeReportSubmitted: "提交",
	performance.TypeReportReturned: "退回", performance.TypeReportLocked: "锁定", performance.TypeReportMarkedLate: "逾期未交",
}

// performanceListData is a year's list of reports and, for the ministry,
// the collection's deadline and the form that extends it.
type performanceListData struct {
	Items []performanceListItem
	// Collection is the year's collection as projected; nil for those who
	// do not run it, and before it is projected.
	Collection *projections.PerformanceCollectionRow
	// CanExtend: the ministry, while the collection is open and its deadline
	// has not come (performance.Collection.Extend refuses any other time).
	CanExtend  bool
	ExtendPath string
	Values     map[string]string // the extension form's inputs → what they show
}

type performanceListItem struct {
	projections.PerformanceReportRow
	Path, Label string
}

func (s *Server) performanceListPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderPerformanceList(w, r, http.StatusOK, nil, nil)
}

// renderPerformanceList shows the year's reports, and the extension form as
// typed when an extension was refused.
func (s *Server) renderPerformanceList(w http.ResponseWriter, r *http.Request, status int, typed url.Values, errs map[string]string) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	f, err := performanceFilter(r)
	if err != nil {
		return err
	}
	rows, err := projections.PerformanceReports(r.Context(), s.pool, year, f)
	if err != nil {
		return err
	}
	d := performanceListData{Items: make([]performanceListItem, len(rows)), ExtendPath: extendPath(year), Values: map[string]string{}}
	for i, row := range rows {
		d.Items[i] = performanceListItem{row, reportPath(year, row.ProjectID), reportStatusLabels[row.Status]}
	}
	if p := principal(r.Context()); p.Role == identity.RoleMinistry {
		c, err := projections.PerformanceCollection(r.Context(), s.pool, year)
		switch {
		case err == nil:
			d.Collection = &c
			d.CanExtend = c.Stage == "open" && time.Now().Before(c.Deadline)
			d.Values["deadline"] = c.Deadline.In(shanghai).Format("2006-01-02T15:04")
		case !projections.IsPerformanceNotFound(err):
			return err
		}
	}
	for _, k := range []string{"deadline", "reason"} {
		if typed.Has(k) {
			d.Values[k] = typed.Get(k)
		}
	}
	msg := firstUnplaced(errs)
	if !d.CanExtend {
		// The deadline came while the form was open: no form to show the
		// refusal beside, so the page says it.
		if m, ok := errs["deadline"]; ok {
			msg = m
		}
	}
	return s.render(w, r, status, "performance_list.html", pageData{Title: fmt.Sprintf("%d年度执行绩效报告", year),
		Data: d, Errors: errs, Error: msg, Print: true})
}

func extendPath(year int) string {
	return fmt.Sprintf("/web/performance/%d/extend", year)
}

// postExtendCollection moves the year's deadline later through the same
// workflow update as POST /api/v1/performance/{year}/extend, and shows the
// list again once the read model has the new deadline.
func (s *Server) postExtendCollection(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	deadline, err := s.extendCollection(r, r.PostFormValue("deadline"), r.PostFormValue("reason"))
	if err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderPerformanceList(w, r, http.StatusUnprocessableEntity, r.PostForm, errs)
		}
		return err
	}
	s.awaitReadModel(r, func() bool {
		c, err := projections.PerformanceCollection(r.Context(), s.pool, year)
		return err == nil && c.Deadline.Equal(deadline)
	})
	return redirectOK(w, r, fmt.Sprintf("/web/performance/%d", year),
		"截止时间已延长至 "+deadline.In(shanghai).Format("2006-01-02 15:04")+"（北京时间）")
}

// reportFormData is the performance report page.
type reportFormData struct {
	Row         projections.PerformanceReportRow
	StatusLabel string
	Path        string
	Indicators  []performance.Indicator
	Sources     []intent.Source
	Values      map[string]string // input name → what it shows
	Editable    bool              // the project's school, before the report is final
	CanDecide   bool              // the ministry, on a submitted report
	Stream      string            // the report's event stream, for the event timeline
	Auditing    bool              // the user may read the event timeline
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderReport(w, r, http.StatusOK, nil, nil)
}

// renderReport shows the report as saved, or as typed when a command was refused.
func (s *Server) renderReport(w http.ResponseWriter, r *http.Request, status int, typed url.Values, errs map[string]string) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	project := r.PathValue("project")
	rows, err := projections.PerformanceReports(r.Context(), s.pool, year, projections.PerformanceFilter{Project: project})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return notFound("该项目没有本年度绩效报告", fmt.Sprintf("report %d/%s not projected yet", year, project))
	}
	row := rows[0]
	tt, _ := performance.Indicators.For(row.TaskType)
	p := principal(r.Context())
	d := reportFormData{Row: row, StatusLabel: reportStatusLabels[row.Status], Path: reportPath(year, project), Indicators: tt.Indicators,
		Sources: intent.Sources, Values: map[string]string{}, Stream: performance.ReportStream(year, project),
		Editable: p.Role == identity.RoleSchool && p.Organisation == row.School &&
			(row.Status == performance.StatusOpen || row.Status == performance.StatusDraft || row.Status == performance.StatusReturned),
		CanDecide: p.Role == identity.RoleMinistry && row.Status == performance.StatusSubmitted,
		Auditing:  p.Role == identity.RoleMinistry || p.Role == identity.RoleAuditor}
	// A draft saved after the last submission is what the school works on.
	shown, draft := row.Report, false
	if row.Draft != nil && (row.Status == performance.StatusDraft || row.Status == performance.StatusOpen || shown == nil) {
		shown, draft = row.Draft, true
	}
	if shown != nil {
		// A draft does not record which sources were left empty; showing
		// them as 0 would answer for the school, so a draft's zeros show
		// empty and submission asks for each source again.
		amount := func(y intent.Yuan) string {
			if draft && y == 0 {
				return ""
			}
			return y.Wan()
		}
		for _, src := range intent.Sources {
			d.Values["planned."+string(src)] = amount(shown.Planned.Get(src))
			d.Values["spent."+string(src)] = amount(shown.Spent.Get(src))
		}
		for k, v := range shown.Indicators {
			d.Values["indicators."+k] = fmt.Sprint(v)
		}
		d.Values["summary"], d.Values["deviation"] = shown.Summary, shown.Deviation
	}
	for k := range typed {
		if k != "csrf_token" && k != "action" {
			d.Values[k] = typed.Get(k)
		}
	}
	title := fmt.Sprintf("%d年度执行绩效报告（%s）", year, row.School)
	return s.render(w, r, status, "performance_report.html", pageData{Title: title, Data: d, Errors: errs, Print: true,
		Error: firstUnplaced(errs)})
}

// reportInput reads the posted form into the API's command input, every
// value as typed, so that performance.Validate judges it and names the field.
func reportInput(v url.Values) performance.ReportInput {
	in := performance.ReportInput{Planned: map[string]json.RawMessage{}, Spent: map[string]json.RawMessage{},
		Indicators: map[string]json.RawMessage{}, Summary: v.Get("summary"), Deviation: v.Get("deviation")}
	str := func(s string) json.RawMessage {
		b, _ := json.Marshal(s) // a string always marshals
		return b
	}
	for k := range v {
		val := strings.TrimSpace(v.Get(k))
		if val == "" {
			continue
		}
		switch block, key, _ := strings.Cut(k, "."); block {
		case "planned":
			in.Planned[key] = str(val)
		case "spent":
			in.Spent[key] = str(val)
		case "indicators":
			if raw := json.RawMessage(val); json.Valid(raw) {
				in.Indicators[key] = raw
			} else {
				in.Indicators[key] = str(val)
			}
		}
	}
	return in
}

// postReport saves the school's draft or submits it, through the same
// workflow updates as PUT …/draft and POST …/submit.
func (s *Server) postReport(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	name, done := workflows.UpdateSaveReportDraft, "草稿已保存"
	if r.PostFormValue("action") == "submit" {
		name, done = workflows.UpdateSubmitReport, "绩效报告已提交"
	}
	project := r.PathValue("project")
	cmd := workflows.ReportCommand{ProjectID: project, Input: reportInput(r.PostForm), Actor: metadata(r.Context())}
	var res workflows.ReportResult
	if err := s.performanceUpdate(r, name, cmd, &res); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderReport(w, r, http.StatusUnprocessableEntity, r.PostForm, errs)
		}
		return err
	}
	s.awaitReport(r, year, project, func(row projections.PerformanceReportRow) bool { return row.Version >= res.Version })
	return redirectOK(w, r, reportPath(year, project), done)
}

// postReturnReport returns a submitted report to its school with a reason.
func (s *Server) postReturnReport(w http.ResponseWriter, r *http.Request) error {
	return s.reportDecision(w, r, workflows.UpdateReturnReport,
		workflows.ReportReturnCommand{ProjectID: r.PathValue("project"), Reason: r.PostFormValue("reason"), Actor: metadata(r.Context())},
		performance.StatusReturned, "已退回该校绩效报告")
}

// postLockReport makes a submitted report final.
func (s *Server) postLockReport(w http.ResponseWriter, r *http.Request) error {
	return s.reportDecision(w, r, workflows.UpdateLockReport,
		workflows.ReportLockCommand{ProjectID: r.PathValue("project"), Actor: metadata(r.Context())},
		performance.StatusLocked, "绩效报告已锁定")
}

func (s *Server) reportDecision(w http.ResponseWriter, r *http.Request, name string, cmd any, want performance.Status, done string) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	if err := s.performanceUpdate(r, name, cmd, nil); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderReport(w, r, http.StatusUnprocessableEntity, nil, errs)
		}
		return err
	}
	project := r.PathValue("project")
	s.awaitReport(r, year, project, func(row projections.PerformanceReportRow) bool { return row.Status == want })
	return redirectOK(w, r, reportPath(year, project), done)
}

func (s *Server) awaitReport(r *http.Request, year int, project string, caught func(projections.PerformanceReportRow) bool) {
	s.awaitReadModel(r, func() bool {
		rows, err := projections.PerformanceReports(r.Context(), s.pool, year, projections.PerformanceFilter{Project: project})
		return err == nil && len(rows) == 1 && caught(rows[0])
	})
}

// timelineData is an event timeline page.
type timelineData struct {
	Stream  string
	Entries []timelineRow
	// Project is set on a project's timeline, which names events for people.
	Project string
	// Cut says the stream has more events than the page shows.
	Cut   bool
	Limit int
}

type timelineRow struct {
	projections.TimelineEntry
	Label string
}

func (s *Server) projectTimelinePage(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("project")
	stream := selection.ProjectStream(project)
	entries, err := projections.TimelineOf(r.Context(), s.pool, stream, maxTimelineLimit)
	if err != nil {
		return err
	}
	d := timelineData{Stream: stream, Project: project, Cut: len(entries) == maxTimelineLimit, Limit: maxTimelineLimit}
	for _, en := range entries {
		d.Entries = append(d.Entries, timelineRow{en, tracking.EventLabel(en.EventType)})
	}
	return s.render(w, r, http.StatusOK, "timeline.html", pageData{Title: "项目进程 " + project, Data: d, Print: true})
}

func (s *Server) streamTimelinePage(w http.ResponseWriter, r *http.Request) error {
	stream := r.PathValue("stream")
	entries, err := projections.TimelineOf(r.Context(), s.pool, stream, maxTimelineLimit)
	if err != nil {
		return err
	}
	d := timelineData{Stream: stream, Cut: len(entries) == maxTimelineLimit, Limit: maxTimelineLimit}
	for _, en := range entries {
		label := tracking.EventLabel(en.EventType)
		if l, ok := reportEventLabels[en.EventType]; ok {
			label = l
		}
		d.Entries = append(d.Entries, timelineRow{en, label})
	}
	return s.render(w, r, http.StatusOK, "timeline.html", pageData{Title: "事件时间线", Data: d, Print: true})
}

func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request) error {
	entries, unread, err := notifications.Inbox(r.Context(), s.pool, principal(r.Context()).UserID, false, maxInboxLimit)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "inbox.html", pageData{Title: "我的通知",
		Data: struct {
			Entries []notifications.Entry
			Unread  int
		}{entries, unread}})
}

func (s *Server) postInboxRead(w http.ResponseWriter, r *http.Request) error {
	if _, err := notifications.MarkAllRead(r.Context(), s.pool, principal(r.Context()).UserID, time.Now()); err != nil {
		return err
	}
	return redirectOK(w, r, "/web/inbox", "已全部标为已读")
}
