package tracking

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
)

// shanghai is the zone of every deadline of the notice.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// ConstructionDeadline is the end of 30 June 2025 in Asia/Shanghai: "确保2025年6月前
// 完成全部建设任务", the first batch's. A project's own deadline is its plan
// batch's (Project.Deadline); this one stands for a project whose selection
// batch names no plan batch.
var ConstructionDeadline = time.Date(2025, 7, 1, 0, 0, 0, 0, shanghai)

// Status of a tracked project.
type Status string

// Statuses.
const (
	StatusActive   Status = "active"   // under construction
	StatusFlagged  Status = "flagged"  // must be rectified by a deadline
	StatusRevoked  Status = "revoked"  // ended by the ministry
	StatusAccepted Status = "accepted" // passed final acceptance (验收)
)

var statusLabels = map[Status]string{
	StatusActive: "建设中", StatusFlagged: "整改中", StatusRevoked: "已撤销", StatusAccepted: "已验收",
}

// Label is the status for users.
func (s Status) Label() string { return statusLabels[s] }

// Inspection is a scheduled inspection and, once recorded, what it found.
type Inspection struct {
	ID         string
	Date       time.Time
	Note       string
	Recorded   bool
	Findings   string
	Conclusion Conclusion
}

// Project is the tracking state of one project, folded from its stream.
type Project struct {
	ID          string
	BatchID     string
	TaskItem    string
	TaskType    string
	Application string
	Province    string
	School      string // from the application; set by the caller, not by the stream
	// Deadline is the end of construction from the project's plan batch, set
	// by the caller; zero means ConstructionDeadline.
	Deadline    time.Time
	Status      Status
	Evaluators  []string
	Inspections []Inspection
	Evaluations []string // evaluation ids
	Flag        *ProjectFlagged
	// FlagVersion is the stream version of Flag's event: the flag a
	// rectification timer was started for.
	FlagVersion int64
	// Overdue is set when Flag's deadline passed unrectified.
	Overdue bool
	Version int64 // events of the stream: the expected version of the next append
}

// ConstructionDeadline is the instant by which the project must pass final
// acceptance: its plan batch's, or the first batch's when it has none.
func (p Project) ConstructionDeadline() time.Time {
	if p.Deadline.IsZero() {
		return ConstructionDeadline
	}
	return p.Deadline
}

// Exists reports whether the project's ProjectCreated was folded.
func (p Project) Exists() bool { return p.ID != "" }

// Assigned reports whether the user is one of the project's evaluators.
func (p Project) Assigned(user string) bool { return slices.Contains(p.Evaluators, user) }

// Inspection returns the inspection with id.
func (p Project) Inspection(id string) (Inspection, bool) {
	for _, in := range p.Inspections {
		if in.ID == id {
			return in, true
		}
	}
	return Inspection{}, false
}

// Created starts the project's state from its ProjectCreated (which package
// selection owns; its fields are passed here to keep this package free of it).
func (p *Project) Created(id, batch, item, taskType, application, province string) {
	p.ID, p.BatchID, p.TaskItem, p.TaskType, p.Application, p.Province = id, batch, item, taskType, application, province
	p.Status = StatusActive
}

// Apply folds one tracking event's data into p. The caller counts the
// stream's events in Version as it folds them (Fold does both).
func (p *Project) Apply(payload Event) {
	switch e := payload.(type) {
	case EvaluatorAssigned:
		if !p.Assigned(e.Evaluator) {
			p.Evaluators = append(p.Evaluators, e.Evaluator)
		}
	case InspectionScheduled:
		p.Inspections = append(p.Inspections, Inspection{ID: e.InspectionID, Date: e.Date, Note: e.Note})
	case InspectionRecorded:
		for i := range p.Inspections {
			if p.Inspections[i].ID == e.InspectionID {
				p.Inspections[i].Recorded = true
				p.Inspections[i].Findings = e.Findings
				p.Inspections[i].Conclusion = e.Conclusion
			}
		}
	case EvaluationSubmitted:
		p.Evaluations = append(p.Evaluations, e.EvaluationID)
	case ProjectFlagged:
		p.Status, p.Flag, p.FlagVersion, p.Overdue = StatusFlagged, &e, p.Version+1, false
	case RectificationConfirmed:
		p.Status, p.Flag, p.FlagVersion, p.Overdue = StatusActive, nil, 0, false
	case RectificationOverdue:
		p.Overdue = p.Flag != nil && e.FlagVersion == p.FlagVersion
	case ProjectRevoked:
		p.Status = StatusRevoked
	case ProjectAccepted:
		p.Status = StatusAccepted
	}
}

// RectificationPending reports whether the flag recorded at flagVersion is
// still the project's open flag: not rectified, not replaced, the project
// neither revoked nor accepted. A rectification timer acts only then.
func (p Project) RectificationPending(flagVersion int64) bool {
	return p.Status == StatusFlagged && p.Flag != nil && p.FlagVersion == flagVersion
}

// RectificationOffsets are when, before a rectification deadline, the school
// and province are reminded.
var RectificationOffsets = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

const maxText = 2000

func text(field, label, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		return "", domain.Invalid(field, label+"不能为空", field+" is required")
	case utf8.RuneCountInString(v) > maxText:
		return "", domain.Invalid(field, fmt.Sprintf("%s不能超过%d个字", label, maxText), field+" is too long")
	}
	return v, nil
}

// open refuses commands on a project that has ended.
func (p Project) open() error {
	switch {
	case !p.Exists():
		return domain.Conflict("project", "项目不存在", "no ProjectCreated")
	case p.Status == StatusRevoked:
		return domain.Conflict("project", "项目已撤销", "project "+p.ID+" is revoked")
	case p.Status == StatusAccepted:
		return domain.Conflict("project", "项目已通过验收", "project "+p.ID+" is accepted")
	}
	return nil
}

// AssignEvaluator grants an evaluator (a user of role evaluator; the caller
// checks the role) read access and the right to evaluate. Assigning again is
// a no-op: changed is false.
func AssignEvaluator(p Project, evaluator string) (e EvaluatorAssigned, changed bool, err error) {
	if err := p.open(); err != nil {
		return e, false, err
	}
	if strings.TrimSpace(evaluator) == "" {
		return e, false, domain.Invalid("evaluator", "请指定第三方评估机构用户", "evaluator is required")
	}
	if p.Assigned(evaluator) {
		return e, false, nil
	}
	return EvaluatorAssigned{ProjectID: p.ID, Evaluator: evaluator}, true, nil
}

// ScheduleInspection schedules an inspection on date, which may not be in the
// past (Asia/Shanghai days).
func ScheduleInspection(p Project, date time.Time, note string, now time.Time) (InspectionScheduled, error) {
	var e InspectionScheduled
	if err := p.open(); err != nil {
		return e, err
	}
	if date.IsZero() {
		return e, domain.Invalid("date", "请填写检查日期", "date is required")
	}
	y, m, d := now.In(shanghai).Date()
	if date.Before(time.Date(y, m, d, 0, 0, 0, 0, shanghai)) {
		return e, domain.Invalid("date", "检查日期不能早于今天", "inspection date is in the past")
	}
	note, err := text("note", "说明", note, false)
	if err != nil {
		return e, err
	}
	return InspectionScheduled{ProjectID: p.ID, InspectionID: fmt.Sprintf("I%d", len(p.Inspections)+1), Date: date, Note: note}, nil
}

// RecordInspection records what a scheduled inspection found.
func RecordInspection(p Project, inspection, findings string, c Conclusion) (InspectionRecorded, error) {
	var e InspectionRecorded
	if !p.Exists() {
		return e, p.open()
	}
	in, ok := p.Inspection(inspection)
	switch {
	case !ok:
		return e, domain.Invalid("inspection_id", "该检查评估未安排", "no inspection "+inspection)
	case in.Recorded:
		return e, domain.Conflict("inspection_id", "该检查评估结果已录入", "inspection "+inspection+" is recorded")
	case !c.Valid():
		return e, domain.Invalid("conclusion", "结论应为 good、satisfactory、needs_work、unsatisfactory 之一", fmt.Sprintf("unknown conclusion %q", c))
	}
	findings, err := text("findings", "检查发现", findings, true)
	if err != nil {
		return e, err
	}
	return InspectionRecorded{ProjectID: p.ID, InspectionID: inspection, Findings: findings, Conclusion: c}, nil
}

// SubmitEvaluation records an assigned evaluator's evaluation.
func SubmitEvaluation(p Project, evaluator string, c Conclusion, summary string) (EvaluationSubmitted, error) {
	var e EvaluationSubmitted
	if err := p.open(); err != nil {
		return e, err
	}
	if !p.Assigned(evaluator) {
		return e, domain.Conflict("evaluator", "未被指派评估该项目", evaluator+" is not assigned to "+p.ID)
	}
	if !c.Valid() {
		return e, domain.Invalid("conclusion", "结论应为 good、satisfactory、needs_work、unsatisfactory 之一", fmt.Sprintf("unknown conclusion %q", c))
	}
	summary, err := text("summary", "评估意见", summary, true)
	if err != nil {
		return e, err
	}
	return EvaluationSubmitted{ProjectID: p.ID, EvaluationID: fmt.Sprintf("E%d", len(p.Evaluations)+1), Evaluator: evaluator,
		Conclusion: c, Summary: summary}, nil
}

// Flag requires rectification by rectifyBy, which must be in the future.
func Flag(p Project, reason string, rectifyBy, now time.Time) (ProjectFlagged, error) {
	var e ProjectFlagged
	if err := p.open(); err != nil {
		return e, err
	}
	if p.Status == StatusFlagged {
		return e, domain.Conflict("project", "项目已在整改中，请先确认整改完成", "project "+p.ID+" is already flagged")
	}
	reason, err := text("reason", "整改原因", reason, true)
	if err != nil {
		return e, err
	}
	if rectifyBy.IsZero() {
		return e, domain.Invalid("rectify_by", "请填写整改期限", "rectify_by is required")
	}
	if !rectifyBy.After(now) {
		return e, domain.Invalid("rectify_by", "整改期限应晚于当前时间", "rectify_by is not in the future")
	}
	return ProjectFlagged{ProjectID: p.ID, Reason: reason, RectifyBy: rectifyBy}, nil
}

// ConfirmRectification lifts a flag.
func ConfirmRectification(p Project, note string) (RectificationConfirmed, error) {
	var e RectificationConfirmed
	if err := p.open(); err != nil {
		return e, err
	}
	if p.Status != StatusFlagged {
		return e, domain.Conflict("project", "项目不在整改中", "project "+p.ID+" is not flagged")
	}
	note, err := text("note", "说明", note, false)
	if err != nil {
		return e, err
	}
	return RectificationConfirmed{ProjectID: p.ID, Note: note}, nil
}

// Revoke ends the project for reason.
func Revoke(p Project, reason string) (ProjectRevoked, error) {
	var e ProjectRevoked
	if err := p.open(); err != nil {
		return e, err
	}
	reason, err := text("reason", "撤销原因", reason, true)
	if err != nil {
		return e, err
	}
	return ProjectRevoked{ProjectID: p.ID, Reason: reason}, nil
}

// Accept records final acceptance (验收) at acceptedAt, which must not be in
// the future nor after the project's construction deadline. A flagged project must be
// rectified first.
func Accept(p Project, acceptedAt time.Time, conclusion string, now time.Time) (ProjectAccepted, error) {
	var e ProjectAccepted
	if err := p.open(); err != nil {
		return e, err
	}
	if p.Status == StatusFlagged {
		return e, domain.Conflict("project", "项目整改尚未完成，不能验收", "project "+p.ID+" is flagged")
	}
	switch {
	case acceptedAt.IsZero():
		return e, domain.Invalid("accepted_at", "请填写验收时间", "accepted_at is required")
	case acceptedAt.After(now):
		return e, domain.Invalid("accepted_at", "验收时间不能晚于当前时间", "accepted_at is in the future")
	case !acceptedAt.Before(p.ConstructionDeadline()):
		last := p.ConstructionDeadline().In(shanghai).AddDate(0, 0, -1)
		return e, domain.Invalid("accepted_at", fmt.Sprintf("验收须在建设期限（%s）内完成", last.Format("2006年1月2日")),
			fmt.Sprintf("accepted_at is after the construction deadline %s", p.ConstructionDeadline().Format(time.RFC3339)))
	}
	conclusion, err := text("conclusion", "验收结论", conclusion, true)
	if err != nil {
		return e, err
	}
	return ProjectAccepted{ProjectID: p.ID, AcceptedAt: acceptedAt, Conclusion: conclusion}, nil
}
