// Package selection holds the rules of a selection batch (遴选批次) of one task
// item: schools' applications, the provinces' recommendation, the ministry's
// qualification review, expert review and ranking, the public notice with its
// objections, and publication. Rules are pure: state and command in, event
// payloads or a *domain.FieldError / *domain.ConflictError out.
package selection

import (
	"time"

	"keytask/domain/assign"
	"keytask/domain/scoring"
)

// Streams. The batch's workflow is the only writer of SelectionBatchStream and
// ProjectStream; the application and expert services write theirs.
func SelectionBatchStream(batchID string) string { return "selection-batch-" + batchID }
func ApplicationStream(applicationID string) string {
	return "application-" + applicationID
}
func ExpertStream(expertID string) string   { return "expert-" + expertID }
func ProjectStream(projectID string) string { return "project-" + projectID }

// ProjectID is the id of the project a published application becomes: one
// application is selected at most once, so its id names the project.
func ProjectID(batchID, applicationID string) string { return batchID + "." + applicationID }

// Event types.
const (
	// ApplicationStream(id); written by the application service.
	TypeApplicationCreated         = "ApplicationCreated"
	TypeApplicationEdited          = "ApplicationEdited"
	TypeApplicationAttachmentAdded = "ApplicationAttachmentAdded"
	TypeApplicationSubmitted       = "ApplicationSubmitted"
	// ExpertStream(id); written by the expert pool service.
	TypeExpertRegistered = "ExpertRegistered"
	// SelectionBatchStream(batch); written by the batch's workflow.
	TypeSelectionBatchOpened    = "SelectionBatchOpened"
	TypeProvinceQuotaRaised     = "ProvinceQuotaRaised"
	TypeApplicationsRecommended = "ApplicationsRecommended"
	TypeQualificationDecided    = "QualificationDecided"
	TypeCorrectionResubmitted   = "CorrectionResubmitted"
	TypeStageAdvanced           = "StageAdvanced"
	TypeStageReopened           = "StageReopened"
	TypeStageDeadlineExtended   = "StageDeadlineExtended"
	TypeStageDeadlinePassed     = "StageDeadlinePassed"
	TypeExpertsAssigned         = "ExpertsAssigned"
	TypeScoresSubmitted         = "ScoresSubmitted"
	TypeRankingProposed         = "RankingProposed"
	TypeRankingConfirmed        = "RankingConfirmed"
	TypeObjectionFiled          = "ObjectionFiled"
	TypeObjectionAdjudicated    = "ObjectionAdjudicated"
	TypeSelectionBatchPublished = "SelectionBatchPublished"
	TypeConsensusRecorded       = "ConsensusRecorded"
	TypeRankingOverruled        = "RankingOverruled"
	TypeSuccessorNoticed        = "SuccessorNoticed"
	TypeProjectCreated          = "ProjectCreated" // ProjectStream(ProjectID(batch, application))
)

// ---- Applications (ApplicationStream) ----

// ApplicationCreated: a school starts an application to a batch's task item.
// School, Province and Alliances are what expert conflicts are checked on.
type ApplicationCreated struct {
	ApplicationID string   `json:"application_id"`
	BatchID       string   `json:"batch_id"`
	TaskItem      string   `json:"task_item"` // intent.TaskItem.Item, e.g. "2.1"
	TaskType      string   `json:"task_type"` // rubric and expertise key, e.g. "YZYX"
	School        string   `json:"school"`    // the applicant school's id
	Province      string   `json:"province"`  // the school's province code
	Title         string   `json:"title"`
	Alliances     []string `json:"alliances,omitempty"`
}

// ApplicationEdited: the school replaced the application's editable content.
// Content is the form as the application service validated it; the batch never
// reads it.
type ApplicationEdited struct {
	ApplicationID string            `json:"application_id"`
	Title         string            `json:"title"`
	Content       map[string]string `json:"content,omitempty"`
}

// ApplicationAttachmentAdded: a file attached to the application, stored by
// content hash.
type ApplicationAttachmentAdded struct {
	ApplicationID string `json:"application_id"`
	AttachmentID  string `json:"attachment_id"`
	Name          string `json:"name"`
	MediaType     string `json:"media_type"`
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256"` // hex
}

// ApplicationSubmitted: the school submitted the application; At is ranking
// tie-break rule 4 (the earlier submission first). A corrected application is
// submitted again; the first At counts for the tie-break.
type ApplicationSubmitted struct {
	ApplicationID string    `json:"application_id"`
	At            time.Time `json:"at"`
}

// ---- Experts (ExpertStream) ----

// ExpertRegistered: an expert joins the pool or re-registers; the latest
// registration replaces every field. The fields mirror assign.Expert.
type ExpertRegistered struct {
	ExpertID  string         `json:"expert_id"`
	Name      string         `json:"name"`
	Expertise map[string]int `json:"expertise"`          // task type → level 0..assign.MaxLevel
	Province  string         `json:"province,omitempty"` // empty for national bodies
	Employer  string         `json:"employer,omitempty"` // school id, if a school employs them
	Alliances []string       `json:"alliances,omitempty"`
	// FormerEmployers is the expert's employment history: schools left, with
	// the day they left; one left within assign.FormerEmployerYears bars them.
	FormerEmployers      []assign.FormerEmployment `json:"former_employers,omitempty"`
	ConflictApplications []string                  `json:"conflict_applications,omitempty"` // 本人申报回避
	ConflictSchools      []string                  `json:"conflict_schools,omitempty"`
	Load                 int                       `json:"load"` // most applications per selection
}

// ---- The batch (SelectionBatchStream) ----

// SelectionBatchOpened: the ministry opens the selection of one task item.
type SelectionBatchOpened struct {
	BatchID          string                  `json:"batch_id"`
	PlanBatchID      string                  `json:"plan_batch_id"`
	TaskItem         string                  `json:"task_item"`
	TaskType         string                  `json:"task_type"`
	Quota            int                     `json:"quota"`           // how many the batch selects nationally
	ProvinceQuotas   map[string]int          `json:"province_quotas"` // the filed intent quantity, or its override
	PerApplication   int                     `json:"per_application"` // experts per application
	NoticeDays       int                     `json:"notice_days"`     // working days of public notice
	CorrectionWindow time.Duration           `json:"correction_window"`
	Periods          map[Stage]time.Duration `json:"periods"` // stage length from entry, recommendation to expert_review
	Rubric           scoring.Rubric          `json:"rubric"`
	OutlierThreshold int                     `json:"outlier_threshold"`
	Deadline         time.Time               `json:"deadline"` // of the recommendation stage
	// The hand-over from the plan (see Plan): the filed intent round the
	// quotas come from, each province's filed quantity, the ministry's
	// overrides with their reasons, and each province's 实施单位. Batches
	// opened before the hand-over carry none of them.
	IntentRound    string              `json:"intent_round,omitempty"`
	IntendedQuotas map[string]int      `json:"intended_quotas,omitempty"`
	QuotaOverrides []QuotaOverride     `json:"quota_overrides,omitempty"`
	Units          map[string][]string `json:"units,omitempty"`
	// PassTotal is the overall pass score out of 100 and PassScores the pass
	// mark per rubric criterion key (及格分数线); an application below either
	// is never selected. Zero or absent means none.
	PassTotal  int            `json:"pass_total,omitempty"`
	PassScores map[string]int `json:"pass_scores,omitempty"`
	// ConsensusSpread, when positive, is how many points the experts' totals
	// for one application may spread before the panel must record a
	// consensus (合议) with its rationale; ranking waits for it.
	ConsensusSpread int `json:"consensus_spread,omitempty"`
}

// ProvinceQuotaRaised: the ministry lets a province recommend more than its
// intent quantity. From is the quota it replaces (absent in events recorded
// before it was kept).
type ProvinceQuotaRaised struct {
	Province string `json:"province"`
	From     int    `json:"from,omitempty"`
	Quota    int    `json:"quota"`
	Reason   string `json:"reason"`
}

// ApplicationsRecommended: a province's ranked recommendation, replacing any
// earlier one of that province.
type ApplicationsRecommended struct {
	Province     string   `json:"province"`
	Applications []string `json:"applications"` // in the province's order, first = rank 1
	// Reasons: why the province recommends an application whose school is not
	// among its filed 实施单位 for the task item, per application.
	Reasons map[string]string `json:"reasons,omitempty"`
}

// Outcome of a qualification decision.
type Outcome string

const (
	Passed   Outcome = "passed"
	Failed   Outcome = "failed"
	Returned Outcome = "returned" // for correction, within the correction window
)

// QualificationDecision is the ministry's decision on one application.
type QualificationDecision struct {
	Application string    `json:"application"`
	Outcome     Outcome   `json:"outcome"`
	Reason      string    `json:"reason"`
	Until       time.Time `json:"until,omitzero"` // Returned: the correction may be resubmitted until then
}

// QualificationDecided: decisions on many applications at once, so a national
// batch needs a few commands, not thousands.
type QualificationDecided struct {
	Decisions []QualificationDecision `json:"decisions"`
}

// CorrectionResubmitted: a returned application was corrected and awaits a new
// decision.
type CorrectionResubmitted struct {
	Application string `json:"application"`
}

// StageAdvanced: the ministry moved the batch to the next stage. Notice is set
// when the next stage is the public notice.
type StageAdvanced struct {
	From     Stage         `json:"from"`
	To       Stage         `json:"to"`
	Deadline time.Time     `json:"deadline,omitzero"`
	Notice   *NoticePeriod `json:"notice,omitempty"`
}

// NoticePeriod is the public notice (公示) as published.
type NoticePeriod struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"` // objections are accepted before End
	WorkingDays int       `json:"working_days"`
	List        []string  `json:"list"` // the applications on notice, in ranking order
}

// StageReopened: the ministry went back to the previous stage.
type StageReopened struct {
	From     Stage     `json:"from"`
	To       Stage     `json:"to"`
	Reason   string    `json:"reason"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// StageDeadlineExtended: the current stage's deadline moved later.
type StageDeadlineExtended struct {
	Stage    Stage     `json:"stage"`
	Deadline time.Time `json:"deadline"`
}

// StageDeadlinePassed: the clock passed the current stage's deadline. The
// stage stays until the ministry acts; provinces, schools, experts and the
// public can no longer act in it.
type StageDeadlinePassed struct {
	Stage    Stage     `json:"stage"`
	Deadline time.Time `json:"deadline"`
}

// ExpertAssignment is one application's experts.
type ExpertAssignment struct {
	Application string   `json:"application"`
	Experts     []string `json:"experts"`
}

// ExpertsAssigned: one chunk of an expert assignment (the solver's explanations
// are in Explanations, in the same order as Assignments). Round counts
// assignment runs, so a re-run after reopening is told apart.
type ExpertsAssigned struct {
	Round        int                `json:"round"`
	Assignments  []ExpertAssignment `json:"assignments"`
	Explanations [][]string         `json:"explanations,omitempty"` // per application, per expert, in Chinese
}

// ApplicationScores is one expert's marks for one application, one per rubric
// criterion.
type ApplicationScores struct {
	Application string `json:"application"`
	Criteria    []int  `json:"criteria"`
}

// ScoresSubmitted: an expert's scores for some of their applications; a later
// submission for the same application replaces the earlier.
type ScoresSubmitted struct {
	Expert string              `json:"expert"`
	Scores []ApplicationScores `json:"scores"`
}

// RankingProposed: the ranking computed from the latest scores, cut at the quota.
type RankingProposed struct {
	Round    int             `json:"round"`
	Selected []string        `json:"selected"` // the entries above the cut, in ranking order
	Ranking  scoring.Ranking `json:"ranking"`
	// Reserve lists, in ranking order, the applications at or above the pass
	// scores left out of the quota (at most as many as the quota): who moves
	// up (递补) when a selected one is struck out.
	Reserve []string `json:"reserve,omitempty"`
}

// ConsensusRecorded: an application's panel agreed on marks, one per rubric
// criterion, with a written rationale, after its experts' totals spread
// beyond the batch's limit. It becomes the application's score; the experts'
// own scores stay in the log beside it. A later score for the application
// sets it aside until the panel agrees again.
type ConsensusRecorded struct {
	Application string `json:"application"`
	Criteria    []int  `json:"criteria"`
	Rationale   string `json:"rationale"`
	Expert      string `json:"expert,omitempty"` // the panel member who recorded it; empty when the ministry did
}

// Overrule decisions.
const (
	OverruleInclude = "include" // put on the list against the ranking
	OverruleExclude = "exclude" // take off the list against the ranking
)

// RankingOverruled: the ministry overruled the proposed ranking for one
// application, with a reason that the result's explanation shows.
type RankingOverruled struct {
	Round       int      `json:"round"`
	Application string   `json:"application"`
	Decision    string   `json:"decision"` // OverruleInclude or OverruleExclude
	Reason      string   `json:"reason"`
	Selected    []string `json:"selected"` // the list after the overrule
}

// SuccessorNoticed: an application on notice was struck out (an objection
// upheld) and the next-ranked one at or above the pass scores moves up (递补);
// it goes on public notice for the batch's notice period from Start, and
// objections against it are accepted until End.
type SuccessorNoticed struct {
	Application string    `json:"application"`
	Replaces    string    `json:"replaces"`
	ObjectionID string    `json:"objection_id"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	WorkingDays int       `json:"working_days"`
}

// RankingConfirmed: the ministry confirmed the proposed list.
type RankingConfirmed struct {
	Round    int      `json:"round"`
	Selected []string `json:"selected"` // in ranking order
}

// ObjectionFiled: a real-name objection (实名异议) during the notice.
type ObjectionFiled struct {
	ObjectionID string `json:"objection_id"`
	Application string `json:"application"`
	Name        string `json:"name"`
	Contact     string `json:"contact"`
	Text        string `json:"text"`
}

// Adjudication of an objection.
type Adjudication string

const (
	Upheld    Adjudication = "upheld"    // the application leaves the list
	Dismissed Adjudication = "dismissed" // a reason is required
)

// ObjectionAdjudicated: the ministry decided an objection.
type ObjectionAdjudicated struct {
	ObjectionID string       `json:"objection_id"`
	Application string       `json:"application"`
	Outcome     Adjudication `json:"outcome"`
	Reason      string       `json:"reason"`
}

// SelectionBatchPublished: the final list (公布).
type SelectionBatchPublished struct {
	List []string `json:"list"` // in ranking order
}

// ProjectCreated: a published application becomes a project to be tracked.
type ProjectCreated struct {
	ProjectID   string `json:"project_id"`
	BatchID     string `json:"batch_id"`
	TaskItem    string `json:"task_item"`
	TaskType    string `json:"task_type"`
	Application string `json:"application"`
	Province    string `json:"province"`
	Rank        int    `json:"rank"` // 1-based place on the published list
}
