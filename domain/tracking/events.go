// Package tracking holds what happens to a project after publication until
// its construction ends: inspections (检查评估), third-party evaluation, flags
// with rectification deadlines, revocation and final acceptance (验收). Its
// events are on the project's own stream, selection.ProjectStream(id), after
// the ProjectCreated that opened it.
package tracking

import "time"

// Event types on selection.ProjectStream(project).
const (
	TypeProjectRevoked  = "ProjectRevoked"
	TypeProjectAccepted = "ProjectAccepted"

	TypeEvaluatorAssigned      = "ProjectEvaluatorAssigned"
	TypeInspectionScheduled    = "ProjectInspectionScheduled"
	TypeInspectionRecorded     = "ProjectInspectionRecorded"
	TypeEvaluationSubmitted    = "ProjectEvaluationSubmitted"
	TypeProjectFlagged         = "ProjectFlagged"
	TypeRectificationConfirmed = "ProjectRectificationConfirmed"
	TypeRectificationReminded  = "ProjectRectificationReminded"
	TypeRectificationOverdue   = "ProjectRectificationOverdue"
)

// Event is the data of a tracking event; readers of the log keep a project's
// tracking events with events.DecodeIf[tracking.Event].
type Event interface{ trackingEvent() }

func (ProjectRevoked) trackingEvent()         {}
func (ProjectAccepted) trackingEvent()        {}
func (EvaluatorAssigned) trackingEvent()      {}
func (InspectionScheduled) trackingEvent()    {}
func (InspectionRecorded) trackingEvent()     {}
func (EvaluationSubmitted) trackingEvent()    {}
func (ProjectFlagged) trackingEvent()         {}
func (RectificationConfirmed) trackingEvent() {}
func (RectificationReminded) trackingEvent()  {}
func (RectificationOverdue) trackingEvent()   {}

// ProjectRevoked: the ministry revoked the project; it is no longer tracked
// and no longer reports performance.
type ProjectRevoked struct {
	ProjectID string `json:"project_id"`
	Reason    string `json:"reason"`
}

// ProjectAccepted: the project passed final acceptance (验收); its
// construction is complete and it no longer reports performance.
type ProjectAccepted struct {
	ProjectID  string    `json:"project_id"`
	AcceptedAt time.Time `json:"accepted_at"`
	Conclusion string    `json:"conclusion"`
}

// EvaluatorAssigned: a third-party evaluator (a user of role evaluator) may
// from now on read the project and submit evaluations of it.
type EvaluatorAssigned struct {
	ProjectID string `json:"project_id"`
	Evaluator string `json:"evaluator"` // user id
}

// InspectionScheduled: an inspection (检查评估) of the project will take place
// on Date.
type InspectionScheduled struct {
	ProjectID    string    `json:"project_id"`
	InspectionID string    `json:"inspection_id"`
	Date         time.Time `json:"date"`
	Note         string    `json:"note"`
}

// InspectionRecorded: what a scheduled inspection found.
type InspectionRecorded struct {
	ProjectID    string     `json:"project_id"`
	InspectionID string     `json:"inspection_id"`
	Findings     string     `json:"findings"`
	Conclusion   Conclusion `json:"conclusion"`
}

// EvaluationSubmitted: an assigned evaluator's evaluation of the project.
type EvaluationSubmitted struct {
	ProjectID    string     `json:"project_id"`
	EvaluationID string     `json:"evaluation_id"`
	Evaluator    string     `json:"evaluator"` // user id
	Conclusion   Conclusion `json:"conclusion"`
	Summary      string     `json:"summary"`
}

// ProjectFlagged: the project must be rectified (整改) by RectifyBy.
type ProjectFlagged struct {
	ProjectID string    `json:"project_id"`
	Reason    string    `json:"reason"`
	RectifyBy time.Time `json:"rectify_by"`
}

// RectificationConfirmed: the ministry confirmed the rectification; the flag
// is lifted.
type RectificationConfirmed struct {
	ProjectID string `json:"project_id"`
	Note      string `json:"note"`
}

// RectificationReminded: the rectification deadline of the flag recorded at
// FlagVersion of the project's stream is Offset away and the project is
// still flagged; its school and province are reminded.
type RectificationReminded struct {
	ProjectID   string        `json:"project_id"`
	FlagVersion int64         `json:"flag_version"`
	RectifyBy   time.Time     `json:"rectify_by"`
	Offset      time.Duration `json:"offset"`
}

// RectificationOverdue: the rectification deadline of the flag recorded at
// FlagVersion passed while the project was still flagged; the matter is
// escalated to the ministry. The project stays flagged until the ministry
// confirms the rectification or revokes it.
type RectificationOverdue struct {
	ProjectID   string    `json:"project_id"`
	FlagVersion int64     `json:"flag_version"`
	Reason      string    `json:"reason"` // the flag's
	RectifyBy   time.Time `json:"rectify_by"`
}

// Conclusion is the verdict of an inspection or evaluation.
type Conclusion string

// Conclusions.
const (
	ConclusionGood         Conclusion = "good"           // 良好
	ConclusionSatisfactory Conclusion = "satisfactory"   // 合格
	ConclusionNeedsWork    Conclusion = "needs_work"     // 需整改
	ConclusionFailed       Conclusion = "unsatisfactory" // 不合格
)

var conclusionLabels = map[Conclusion]string{
	ConclusionGood:         "良好",
	ConclusionSatisfactory: "合格",
	ConclusionNeedsWork:    "需整改",
	ConclusionFailed:       "不合格",
}

// Label is the conclusion for users ("" for an unknown one).
func (c Conclusion) Label() string { return conclusionLabels[c] }

// Valid reports whether c is a known conclusion.
func (c Conclusion) Valid() bool { _, ok := conclusionLabels[c]; return ok }

// eventLabels name a project stream's events for users; ProjectCreated is
// package selection's but opens every project's timeline.
var eventLabels = map[string]string{
	"ProjectCreated":           "项目公布立项",
	TypeEvaluatorAssigned:      "指派第三方评估机构",
	TypeInspectionScheduled:    "安排检查评估",
	TypeInspectionRecorded:     "录入检查评估结果",
	TypeEvaluationSubmitted:    "提交第三方评估意见",
	TypeProjectFlagged:         "责令整改",
	TypeRectificationConfirmed: "确认整改完成",
	TypeRectificationReminded:  "整改期限提醒",
	TypeRectificationOverdue:   "整改逾期，报部处理",
	TypeProjectRevoked:         "撤销项目",
	TypeProjectAccepted:        "通过验收",
}

// EventLabel names an event of a project's stream for users ("" if unknown).
func EventLabel(typ string) string { return eventLabels[typ] }
