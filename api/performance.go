package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/performance"
	"keytask/domain/policy"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/exports"
	"keytask/projections"
	"keytask/workflows"
)

// Kinds of the performance collection's resources, for the policy: a year's
// collection (national) and one project's report (its school writes it; its
// province and school read it; the ministry returns and locks it).
const (
	kindPerformanceCollection = policy.KindPerformanceCollection
	kindPerformanceReport     = policy.KindPerformanceReport
)

func (s *Server) performanceRoutes() []Route {
	const (
		read, write, admin = policy.ActionRead, policy.ActionWrite, policy.ActionAdminister
		year               = "/api/v1/performance/{year}"
		report             = year + "/reports/{project}"
	)
	return []Route{
		{Pattern: "GET " + year, Action: read, Resource: nationalPerformance, handle: s.getPerformanceCollection},
		{Pattern: "POST " + year + "/extend", Action: admin, Resource: nationalPerformance, handle: s.extendPerformanceCollection, Request: extendPerformanceCollectionBody{}},
		{Pattern: "GET " + year + "/rollups", Action: read, Resource: performanceScope, handle: s.performanceRollups},
		{Pattern: "GET " + year + "/rollups.xlsx", Action: read, Resource: performanceScope, handle: s.performanceXLSX},
		{Pattern: "GET " + year + "/reports", Action: read, Resource: performanceScope, handle: s.listPerformanceReports},
		{Pattern: "GET " + report, Action: read, Resource: s.performanceReport(false), handle: s.getPerformanceReport},
		{Pattern: "PUT " + report + "/draft", Action: write, Resource: s.performanceReport(true), handle: s.savePerformanceDraft, Request: performance.ReportInput{}},
		{Pattern: "POST " + report + "/submit", Action: write, Resource: s.performanceReport(true), handle: s.submitPerformanceReport, Request: performance.ReportInput{}},
		{Pattern: "POST " + report + "/return", Action: admin, Resource: s.performanceReport(true), handle: s.returnPerformanceReport, Request: returnPerformanceReportBody{}},
		{Pattern: "POST " + report + "/lock", Action: admin, Resource: s.performanceReport(true), handle: s.lockPerformanceReport, Request: struct{}{}},
	}
}

func nationalPerformance(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: kindPerformanceCollection, ID: r.PathValue("year")}, nil
}

// performanceScope is what a principal may list: a province its own, a
// school its own, the ministry and auditors everything. The handlers narrow
// the query to the same scope (performanceFilter).
func performanceScope(r *http.Request, p identity.Principal) (policy.Resource, error) {
	res := policy.Resource{Kind: kindPerformanceReport, ID: r.PathValue("year")}
	switch p.Role {
	case identity.RoleProvince:
		res.Province = p.Organisation
	case identity.RoleSchool:
		res.School = p.Organisation
	}
	return res, nil
}

// performanceFilter reads the query's filters and narrows them to the
// principal's scope.
func performanceFilter(r *http.Request) (projections.PerformanceFilter, error) {
	var f projections.PerformanceFilter
	var err error
	if f.Province, err = queryText(r, "province"); err != nil {
		return f, err
	}
	if f.TaskType, err = queryText(r, "task_type"); err != nil {
		return f, err
	}
	p := principal(r.Context())
	switch p.Role {
	case identity.RoleProvince:
		f.Province = p.Organisation
	case identity.RoleSchool:
		f.School = p.Organisation
	}
	return f, nil
}

func pathYear(r *http.Request) (int, error) {
	y, err := strconv.Atoi(r.PathValue("year"))
	if err != nil || y < 2000 || y > 2100 {
		return 0, notFound("该年度没有绩效采集", "bad year "+r.PathValue("year"))
	}
	return y, nil
}

// performanceReport describes the report in the path from its stream's
// ReportOpened, which knows its owner before the read model does. For
// writing, the school alone owns it, so a province never fills in a school's
// report.
func (s *Server) performanceReport(write bool) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(r *http.Request, _ identity.Principal) (policy.Resource, error) {
		o, err := s.openedReport(r)
		if err != nil {
			return policy.Resource{}, err
		}
		res := policy.Resource{Kind: kindPerformanceReport, ID: fmt.Sprintf("%d/%s", o.Year, o.ProjectID), Province: o.Province, School: o.School}
		if write {
			res.Province = ""
		}
		return res, nil
	}
}

func (s *Server) openedReport(r *http.Request) (performance.ReportOpened, error) {
	year, err := pathYear(r)
	if err != nil {
		return performance.ReportOpened{}, err
	}
	project := r.PathValue("project")
	evs, err := s.store.ReadStream(r.Context(), performance.ReportStream(year, project), events.ReadOptions{UpToVersion: 1})
	if err != nil {
		return performance.ReportOpened{}, err
	}
	if len(evs) == 0 || evs[0].Type != performance.TypeReportOpened {
		return performance.ReportOpened{}, notFound("该项目没有本年度绩效报告", fmt.Sprintf("no report %d/%s", year, project))
	}
	return events.DecodeAs[performance.ReportOpened](eventtypes.Registry, evs[0])
}

// reportView is a report as the API answers it: money as {"yuan", "wan"},
// like every amount the API returns.
type reportView struct {
	Planned      fundsView        `json:"planned"`
	PlannedTotal moneyView        `json:"planned_total"`
	Spent        fundsView        `json:"spent"`
	SpentTotal   moneyView        `json:"spent_total"`
	Indicators   map[string]int64 `json:"indicators"`
	Summary      string           `json:"summary,omitempty"`
	Deviation    string           `json:"deviation,omitempty"`
}

func reportOf(r *performance.Report) *reportView {
	if r == nil {
		return nil
	}
	return &reportView{Planned: fundsOf(r.Planned), PlannedTotal: money(r.PlannedTotal), Spent: fundsOf(r.Spent),
		SpentTotal: money(r.SpentTotal), Indicators: r.Indicators, Summary: r.Summary, Deviation: r.Deviation}
}

// reportRowView is a report row of the read model with its money as views.
type reportRowView struct {
	projections.PerformanceReportRow
	Draft  *reportView `json:"draft,omitempty"`
	Report *reportView `json:"report,omitempty"`
}

func reportRowsOf(rows []projections.PerformanceReportRow) []reportRowView {
	out := make([]reportRowView, len(rows))
	for i, r := range rows {
		out[i] = reportRowView{PerformanceReportRow: r, Draft: reportOf(r.Draft), Report: reportOf(r.Report)}
	}
	return out
}

// rollupView is a roll-up with its money as views.
type rollupView struct {
	Year         int              `json:"year"`
	Province     string           `json:"province"`
	TaskType     string           `json:"task_type"`
	Reports      int              `json:"reports"`
	Submitted    int              `json:"submitted"`
	Late         int              `json:"late"`
	RatePermille int              `json:"rate_permille"`
	Planned      fundsView        `json:"planned"`
	PlannedTotal moneyView        `json:"planned_total"`
	Spent        fundsView        `json:"spent"`
	SpentTotal   moneyView        `json:"spent_total"`
	Indicators   map[string]int64 `json:"indicators"`
}

func rollupsOf(rows []projections.PerformanceRollup) []rollupView {
	out := make([]rollupView, len(rows))
	for i, r := range rows {
		out[i] = rollupView{Year: r.Year, Province: r.Province, TaskType: r.TaskType, Reports: r.Reports, Submitted: r.Submitted,
			Late: r.Late, RatePermille: r.RatePermille, Planned: fundsOf(r.Planned), PlannedTotal: money(r.PlannedTotal),
			Spent: fundsOf(r.Spent), SpentTotal: money(r.SpentTotal), Indicators: r.Indicators}
	}
	return out
}

func (s *Server) getPerformanceCollection(w http.ResponseWriter, r *http.Request) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	c, err := projections.PerformanceCollection(r.Context(), s.pool, year)
	if projections.IsPerformanceNotFound(err) {
		return notFound("该年度没有绩效采集", fmt.Sprintf("no collection %d", year))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) performanceRollups(w http.ResponseWriter, r *http.Request) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	f, err := performanceFilter(r)
	if err != nil {
		return err
	}
	rows, err := projections.PerformanceRollups(r.Context(), s.pool, year, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"year": year, "rollups": rollupsOf(rows)})
	return nil
}

func (s *Server) performanceXLSX(w http.ResponseWriter, r *http.Request) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	f, err := performanceFilter(r)
	if err != nil {
		return err
	}
	rows, err := projections.PerformanceRollups(r.Context(), s.pool, year, f)
	if err != nil {
		return err
	}
	reports, err := projections.PerformanceReports(r.Context(), s.pool, year, f)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeXLSX, fmt.Sprintf("performance-%d.xlsx", year), fmt.Sprintf("执行绩效汇总-%d.xlsx", year),
		func(b *bytes.Buffer) error { return exports.WritePerformanceXLSX(b, year, rows, reports) })
}

func (s *Server) listPerformanceReports(w http.ResponseWriter, r *http.Request) error {
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
	writeJSON(w, http.StatusOK, map[string]any{"year": year, "reports": reportRowsOf(rows)})
	return nil
}

func (s *Server) getPerformanceReport(w http.ResponseWriter, r *http.Request) error {
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
	history, err := projections.PerformanceHistory(r.Context(), s.pool, year, project)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": reportRowsOf(rows)[0], "history": history})
	return nil
}

// performanceUpdate sends a report command to the year's collection, found
// by the workflow that opened the year's stream.
func (s *Server) performanceUpdate(r *http.Request, name string, arg, result any) error {
	year, err := pathYear(r)
	if err != nil {
		return err
	}
	evs, err := s.store.ReadStream(r.Context(), performance.CollectionStream(year), events.ReadOptions{UpToVersion: 1})
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return notFound("该年度没有绩效采集", fmt.Sprintf("no collection %d", year))
	}
	ended, err := s.sendUpdate(r, evs[0].Metadata.WorkflowID, name, arg, result)
	if ended {
		return domain.Conflict("", fmt.Sprintf("%d年度绩效采集已结束，不再受理", year), fmt.Sprintf("collection %d: %v", year, err))
	}
	return err
}

func (s *Server) reportCommand(w http.ResponseWriter, r *http.Request, name string) error {
	var in performance.ReportInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	cmd := workflows.ReportCommand{ProjectID: r.PathValue("project"), Input: in, Actor: metadata(r.Context())}
	var res workflows.ReportResult
	if err := s.performanceUpdate(r, name, cmd, &res); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"project_id": cmd.ProjectID, "version": res.Version, "late": res.Late, "report": reportOf(&res.Report)})
	return nil
}

func (s *Server) savePerformanceDraft(w http.ResponseWriter, r *http.Request) error {
	return s.reportCommand(w, r, workflows.UpdateSaveReportDraft)
}

func (s *Server) submitPerformanceReport(w http.ResponseWriter, r *http.Request) error {
	return s.reportCommand(w, r, workflows.UpdateSubmitReport)
}

func (s *Server) returnPerformanceReport(w http.ResponseWriter, r *http.Request) error {
	var req returnPerformanceReportBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cmd := workflows.ReportReturnCommand{ProjectID: r.PathValue("project"), Reason: req.Reason, Actor: metadata(r.Context())}
	if err := s.performanceUpdate(r, workflows.UpdateReturnReport, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"project_id": cmd.ProjectID, "status": performance.StatusReturned, "reason": cmd.Reason})
	return nil
}

func (s *Server) lockPerformanceReport(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > 0 {
		var req struct{}
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	cmd := workflows.ReportLockCommand{ProjectID: r.PathValue("project"), Actor: metadata(r.Context())}
	if err := s.performanceUpdate(r, workflows.UpdateLockReport, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"project_id": cmd.ProjectID, "status": performance.StatusLocked})
	return nil
}

// extendPerformanceCollection moves the year's deadline later (绩效采集延期):
// {"deadline": "2023-01-20 18:00", "reason": "…"}, the reason optional.
func (s *Server) extendPerformanceCollection(w http.ResponseWriter, r *http.Request) error {
	var req extendPerformanceCollectionBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	deadline, err := s.extendCollection(r, req.Deadline, req.Reason)
	if err != nil {
		return err
	}
	year, _ := pathYear(r) // performanceUpdate read it already
	writeJSON(w, http.StatusOK, map[string]any{"year": year, "deadline": deadline})
	return nil
}

// extendCollection sends the ministry's extension of the year in the path to
// the collection's workflow, the deadline as typed: Beijing time or RFC 3339.
// The API and the page both extend through it, so they read the deadline and
// refuse alike. It returns the new deadline once the workflow recorded it.
func (s *Server) extendCollection(r *http.Request, deadlineText, reason string) (time.Time, error) {
	deadline, err := parseDeadline("deadline", deadlineText)
	if err != nil {
		return time.Time{}, err
	}
	cmd := workflows.ExtendCollectionCommand{Deadline: deadline, Reason: reason, Actor: metadata(r.Context())}
	if err := s.performanceUpdate(r, workflows.UpdateExtendCollection, cmd, nil); err != nil {
		return time.Time{}, err
	}
	return deadline, nil
}

// returnPerformanceReportBody is the body returnPerformanceReport decodes.
type returnPerformanceReportBody struct {
	Reason string `json:"reason"`
}

// extendPerformanceCollectionBody is the body extendPerformanceCollection decodes.
type extendPerformanceCollectionBody struct {
	Deadline string `json:"deadline"`
	Reason   string `json:"reason"`
}
