package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

func (s *Server) trackingRoutes() []Route {
	const (
		read  = policy.ActionRead
		write = policy.ActionWrite
		admin = policy.ActionAdminister
		proj  = "/api/v1/projects/{project}"
	)
	return []Route{
		{Pattern: "GET /api/v1/projects", Action: read, Resource: ownProjects, handle: s.listProjects},
		{Pattern: "GET /api/v1/projects/overdue", Action: read, Resource: ownProjects, handle: s.overdueProjects},
		{Pattern: "GET " + proj, Action: read, Resource: s.projectResource(policy.KindProject), handle: s.getProject},
		{Pattern: "GET " + proj + "/timeline", Action: read, Resource: s.projectResource(policy.KindProject), handle: s.projectTimeline},
		{Pattern: "POST " + proj + "/evaluators", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.assignEvaluator, Request: assignEvaluatorBody{}},
		{Pattern: "POST " + proj + "/inspections", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.scheduleInspection, Request: scheduleInspectionBody{}},
		{Pattern: "POST " + proj + "/inspections/{inspection}/findings", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.recordInspection, Request: recordInspectionBody{}},
		{Pattern: "POST " + proj + "/evaluations", Action: write, Resource: s.projectResource(policy.KindEvaluation), handle: s.submitEvaluation, Request: submitEvaluationBody{}},
		{Pattern: "POST " + proj + "/flag", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.flagProject, Request: flagProjectBody{}},
		{Pattern: "POST " + proj + "/rectified", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.confirmRectification, Request: confirmRectificationBody{}},
		{Pattern: "POST " + proj + "/revoke", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.revokeProject, Request: revokeProjectBody{}},
		{Pattern: "POST " + proj + "/accept", Action: admin, Resource: s.projectResource(policy.KindProject), handle: s.acceptProject, Request: acceptProjectBody{}},
	}
}

// ownProjects is the list a principal asks for; the handler keeps only the
// projects the policy lets them read.
func ownProjects(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	r := policy.Resource{Kind: policy.KindProject, ID: "list"}
	switch p.Role {
	case identity.RoleProvince:
		r.Province = p.Organisation
	case identity.RoleSchool:
		r.School = p.Organisation
	case identity.RoleEvaluator:
		r.Assigned = []string{p.UserID}
	}
	return r, nil
}

func projectOwner(kind policy.Kind, id, province, school string, evaluators []string) policy.Resource {
	return policy.Resource{Kind: kind, ID: id, Province: province, School: school, Assigned: evaluators}
}

// projectResource describes the project in the path from its stream, the
// record, so that scope never depends on a read model being current.
func (s *Server) projectResource(kind policy.Kind) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(r *http.Request, _ identity.Principal) (policy.Resource, error) {
		p, err := s.app.Project(r.Context(), r.PathValue("project"))
		if err != nil {
			return policy.Resource{}, err
		}
		// A province's own project (an alliance, a course) has no school.
		return projectOwner(kind, p.ID, p.Province, p.School, p.Evaluators), nil
	}
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	status := tracking.Status(q.Get("status"))
	if status != "" && status.Label() == "" {
		return badRequest("status", "status 应为 active、flagged、revoked、accepted 之一", fmt.Sprintf("unknown status %q", status))
	}
	province, err := queryText(r, "province")
	if err != nil {
		return err
	}
	p := principal(r.Context())
	f := ownScope(p, projections.ProjectFilter{Province: province, Status: status})
	rows, err := projections.ListProjects(r.Context(), s.pool, f)
	if err != nil {
		return err
	}
	out := make([]projections.ProjectRecord, 0, len(rows))
	for _, pr := range rows {
		if policy.Decide(p, policy.ActionRead, projectOwner(policy.KindProject, pr.ProjectID, pr.Province, pr.School, pr.Evaluators)) == nil {
			out = append(out, pr)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
	return nil
}

// overdueProjects lists the flagged projects whose rectification deadline has
// passed, the longest overdue first: the ministry's view of the escalations
// (a province sees its own, a school its own).
func (s *Server) overdueProjects(w http.ResponseWriter, r *http.Request) error {
	province, err := queryText(r, "province")
	if err != nil {
		return err
	}
	now := time.Now()
	p := principal(r.Context())
	f := ownScope(p, projections.ProjectFilter{Province: province, OverdueAt: now})
	rows, err := projections.ListProjects(r.Context(), s.pool, f)
	if err != nil {
		return err
	}
	type overdue struct {
		projections.ProjectRecord
		DaysOverdue int `json:"days_overdue"` // whole days since the deadline
	}
	out := make([]overdue, 0, len(rows))
	for _, pr := range rows {
		if pr.RectifyBy == nil || policy.Decide(p, policy.ActionRead, projectOwner(policy.KindProject, pr.ProjectID, pr.Province, pr.School, pr.Evaluators)) != nil {
			continue
		}
		out = append(out, overdue{pr, int(now.Sub(*pr.RectifyBy) / (24 * time.Hour))})
	}
	slices.SortStableFunc(out, func(a, b overdue) int { return a.RectifyBy.Compare(*b.RectifyBy) })
	writeJSON(w, http.StatusOK, map[string]any{"projects": out, "as_of": now.UTC()})
	return nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	d, err := projections.GetProject(r.Context(), s.pool, r.PathValue("project"))
	if errors.Is(err, projections.ErrProjectNotFound) {
		return notFound("项目不存在", err.Error())
	}
	if err != nil {
		return err
	}
	if p := principal(r.Context()); p.Role == identity.RoleEvaluator {
		// Evaluations are independent: an evaluator sees only its own.
		own := []projections.EvaluationRecord{}
		for _, ev := range d.Evaluations {
			if ev.Evaluator == p.UserID {
				own = append(own, ev)
			}
		}
		d.Evaluations = own
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) projectTimeline(w http.ResponseWriter, r *http.Request) error {
	limit := defaultTimelineLimit
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTimelineLimit {
			return badRequest("limit", fmt.Sprintf("limit 应为 1 到 %d 之间的整数", maxTimelineLimit),
				fmt.Sprintf("limit %q out of range", v))
		}
		limit = n
	}
	stream := selection.ProjectStream(r.PathValue("project"))
	entries, err := projections.TimelineOf(r.Context(), s.pool, stream, limit)
	if err != nil {
		return err
	}
	type labelled struct {
		projections.TimelineEntry
		Label string `json:"label"` // what happened, for users
	}
	out := make([]labelled, len(entries))
	for i, en := range entries {
		out[i] = labelled{en, tracking.EventLabel(en.EventType)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"project_id": r.PathValue("project"), "stream_id": stream, "entries": out})
	return nil
}

// trackingCommand decides a command on the project in the path and appends
// its event. A request repeated with the same Idempotency-Key finds its event
// already in the stream and answers it again without deciding anew.
func (s *Server) trackingCommand(w http.ResponseWriter, r *http.Request, body any,
	decide func(p tracking.Project, now time.Time) (typ string, payload any, changed bool, err error)) error {
	return s.trackingCommandThen(w, r, body, decide, nil)
}

// trackingCommandThen is trackingCommand with a step after the event is
// recorded (or found recorded) and before the answer, such as starting the
// timer a flag needs; an error of the step is the answer, and the client's
// retry with the same key replays the event and runs the step again.
func (s *Server) trackingCommandThen(w http.ResponseWriter, r *http.Request, body any,
	decide func(p tracking.Project, now time.Time) (typ string, payload any, changed bool, err error),
	then func(r *http.Request, t app.Tracked) error) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if body != nil {
		if err := decodeJSON(w, r, body); err != nil {
			return err
		}
	}
	t, err := s.app.TrackProject(r.Context(), app.TrackProject{Request: appRequest(r, key), ProjectID: r.PathValue("project"), Decide: decide})
	if err == nil && then != nil && (t.Changed || t.Replayed) {
		err = then(r, t)
	}
	switch {
	case err != nil:
		return err
	case t.Replayed:
		writeJSON(w, http.StatusOK, map[string]any{"project_id": t.ProjectID, "event": t.Event, "data": t.Data, "replayed": true})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"project_id": t.ProjectID, "event": t.Event, "data": t.Data, "changed": t.Changed})
	}
	return nil
}

// parseWhen reads an instant: RFC 3339, or a date (Asia/Shanghai), meaning
// its start, or with endOfDay its end (24:00).
func parseWhen(field, label, v string, endOfDay bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, domain.Invalid(field, "请填写"+label, field+" is required")
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, tracking.ConstructionDeadline.Location())
	if err != nil {
		return t, domain.Invalid(field, label+"格式应为 2025-06-30 或 2025-06-30T09:00:00+08:00", fmt.Sprintf("%s %q is not a date", field, v))
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func (s *Server) assignEvaluator(w http.ResponseWriter, r *http.Request) error {
	var req assignEvaluatorBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, _ time.Time) (string, any, bool, error) {
		u, err := projections.GetUser(r.Context(), s.pool, strings.TrimSpace(req.Evaluator))
		switch {
		case errors.Is(err, projections.ErrUserNotFound):
			return "", nil, false, domain.Invalid("evaluator", "该用户不存在", "no user "+req.Evaluator)
		case err != nil:
			return "", nil, false, err
		case u.Role != identity.RoleEvaluator:
			return "", nil, false, domain.Invalid("evaluator", "只能指派第三方评估机构用户", req.Evaluator+" is not an evaluator")
		}
		e, changed, err := tracking.AssignEvaluator(p, u.UserID)
		return tracking.TypeEvaluatorAssigned, e, changed, err
	})
}

func (s *Server) scheduleInspection(w http.ResponseWriter, r *http.Request) error {
	var req scheduleInspectionBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, now time.Time) (string, any, bool, error) {
		date, err := parseWhen("date", "检查日期", req.Date, false)
		if err != nil {
			return "", nil, false, err
		}
		e, err := tracking.ScheduleInspection(p, date, req.Note, now)
		return tracking.TypeInspectionScheduled, e, true, err
	})
}

func (s *Server) recordInspection(w http.ResponseWriter, r *http.Request) error {
	var req recordInspectionBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, _ time.Time) (string, any, bool, error) {
		e, err := tracking.RecordInspection(p, r.PathValue("inspection"), req.Findings, req.Conclusion)
		return tracking.TypeInspectionRecorded, e, true, err
	})
}

func (s *Server) submitEvaluation(w http.ResponseWriter, r *http.Request) error {
	var req submitEvaluationBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, _ time.Time) (string, any, bool, error) {
		e, err := tracking.SubmitEvaluation(p, principal(r.Context()).UserID, req.Conclusion, req.Summary)
		return tracking.TypeEvaluationSubmitted, e, true, err
	})
}

func (s *Server) flagProject(w http.ResponseWriter, r *http.Request) error {
	var req flagProjectBody
	return s.trackingCommandThen(w, r, &req, func(p tracking.Project, now time.Time) (string, any, bool, error) {
		by, err := parseWhen("rectify_by", "整改期限", req.RectifyBy, true)
		if err != nil {
			return "", nil, false, err
		}
		e, err := tracking.Flag(p, req.Reason, by, now)
		return tracking.TypeProjectFlagged, e, true, err
	}, s.startRectificationTimer)
}

// startRectificationTimer starts the timer of a recorded flag: reminders
// before its deadline and the escalation to the ministry when it passes
// unrectified. The timer's id names the flag, so a replayed request finds the
// running timer and starts nothing twice.
func (s *Server) startRectificationTimer(r *http.Request, t app.Tracked) error {
	if t.Event != tracking.TypeProjectFlagged {
		return nil
	}
	var flag tracking.ProjectFlagged
	switch d := t.Data.(type) {
	case tracking.ProjectFlagged:
		flag = d
	case json.RawMessage:
		if err := json.Unmarshal(d, &flag); err != nil {
			return err
		}
	default:
		return fmt.Errorf("flag of %s recorded as %T", t.ProjectID, t.Data)
	}
	if s.tc == nil {
		// A server without Temporal (a test of the pages) records the flag;
		// its timer is started where workflows run.
		s.log.Warn("no Temporal client: rectification timer not started", "project", t.ProjectID)
		return nil
	}
	wid := workflows.RectificationWorkflowID(t.ProjectID, t.Version)
	_, err := s.tc.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{
		ID:                                       wid,
		TaskQueue:                                temporalx.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.RectificationWorkflowName, workflows.RectificationParams{ProjectID: t.ProjectID, FlagVersion: t.Version,
		RectifyBy: flag.RectifyBy, Actor: metadata(r.Context())})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return unavailable("start rectification timer " + wid + ": " + err.Error())
	}
	return nil
}

func (s *Server) confirmRectification(w http.ResponseWriter, r *http.Request) error {
	var req confirmRectificationBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, _ time.Time) (string, any, bool, error) {
		e, err := tracking.ConfirmRectification(p, req.Note)
		return tracking.TypeRectificationConfirmed, e, true, err
	})
}

func (s *Server) revokeProject(w http.ResponseWriter, r *http.Request) error {
	var req revokeProjectBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, _ time.Time) (string, any, bool, error) {
		e, err := tracking.Revoke(p, req.Reason)
		return tracking.TypeProjectRevoked, e, true, err
	})
}

func (s *Server) acceptProject(w http.ResponseWriter, r *http.Request) error {
	var req acceptProjectBody
	return s.trackingCommand(w, r, &req, func(p tracking.Project, now time.Time) (string, any, bool, error) {
		at, err := parseWhen("accepted_at", "验收时间", req.AcceptedAt, false)
		if err != nil {
			return "", nil, false, err
		}
		e, err := tracking.Accept(p, at, req.Conclusion, now)
		return tracking.TypeProjectAccepted, e, true, err
	})
}

// assignEvaluatorBody is the body assignEvaluator decodes.
type assignEvaluatorBody struct {
	Evaluator string `json:"evaluator"`
}

// scheduleInspectionBody is the body scheduleInspection decodes.
type scheduleInspectionBody struct {
	Date string `json:"date"`
	Note string `json:"note"`
}

// recordInspectionBody is the body recordInspection decodes.
type recordInspectionBody struct {
	Findings   string              `json:"findings"`
	Conclusion tracking.Conclusion `json:"conclusion"`
}

// submitEvaluationBody is the body submitEvaluation decodes.
type submitEvaluationBody struct {
	Conclusion tracking.Conclusion `json:"conclusion"`
	Summary    string              `json:"summary"`
}

// flagProjectBody is the body flagProject decodes.
type flagProjectBody struct {
	Reason    string `json:"reason"`
	RectifyBy string `json:"rectify_by"`
}

// confirmRectificationBody is the body confirmRectification decodes.
type confirmRectificationBody struct {
	Note string `json:"note"`
}

// revokeProjectBody is the body revokeProject decodes.
type revokeProjectBody struct {
	Reason string `json:"reason"`
}

// acceptProjectBody is the body acceptProject decodes.
type acceptProjectBody struct {
	AcceptedAt string `json:"accepted_at"`
	Conclusion string `json:"conclusion"`
}

// ownScope narrows a project filter to what the signed-in person's role may
// list: an evaluator their assigned projects, a province its own, a school its
// own. The policy still decides on each row.
func ownScope(p identity.Principal, f projections.ProjectFilter) projections.ProjectFilter {
	switch p.Role {
	case identity.RoleEvaluator:
		f.Evaluator = p.UserID
	case identity.RoleProvince:
		f.Province = p.Organisation
	case identity.RoleSchool:
		f.School = p.Organisation
	}
	return f
}
