package workflows

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
)

// The selection batch (遴选批次): one workflow per batch of one task item
// carries it from recommendation through qualification review, expert review,
// public notice and publication. Every command is a Workflow Update whose
// validator runs the pure rule in domain/selection and refuses with the same
// convention as the intent round (RejectionError / DomainError, types
// UpdateFieldErrorType and UpdateConflictErrorType): nothing refused is recorded.
//
// What only the log knows is checked in the update HANDLER, after validation,
// because a validator cannot run activities: RecommendApplications reads each
// application's stream (activity ReadApplicationFacts) and refuses one that
// does not exist, is not submitted, belongs to another province or to another
// task item with a field error naming "applications[i]", or whose school was
// selected for the task item in another batch (a conflict naming that batch),
// and refuses a school outside the province's filed 实施单位 without a reason
// ("reasons.<application>"; the reasons are recorded with the recommendation); ResubmitCorrection
// refuses until the school has submitted the returned application again on
// its own stream. Such an update is accepted and then completes with the
// error; it appends nothing.
//
// Returning for correction: DecideQualification records QualificationDecided
// and then appends selection.ApplicationReturned (selection.Reopen) to each
// returned application's own stream (activity ReturnApplications, ids derived
// from the decision's step), so the school may edit and submit it again; the
// ResubmitCorrection update follows that submission.
//
// Updates and their results:
//
//	RaiseProvinceQuota(RaiseQuotaCommand)         ministry
//	RecommendApplications(RecommendCommand)       province
//	DecideQualification(QualifyCommand)           ministry; many decisions per update
//	ResubmitCorrection(ResubmitCommand)           school / province
//	AdvanceStage(AdvanceCommand)                  ministry
//	ReopenStage(ReopenCommand)                    ministry
//	ExtendStageDeadline(ExtendStageCommand)       ministry
//	AssignExperts(AssignCommand) → AssignResult   ministry; runs the solver in an activity
//	SubmitScores(ScoresCommand)                   expert; all their marks in one update
//	ProposeRanking(RankCommand) → RankResult      ministry; ranks in an activity
//	RecordConsensus(ConsensusCommand)             expert on the panel, or ministry
//	OverruleRanking(OverruleCommand)              ministry; include or exclude, with a reason
//	ConfirmRanking(ConfirmRankingCommand)         ministry
//	FileObjection(ObjectionCommand) → string      public; the objection id
//	AdjudicateObjection(AdjudicateCommand)        ministry; upheld or dismissed, with a reason
//	PublishSelection(PublishCommand)              ministry
//	DeclareNoConflict(DeclareNoConflictCommand)   expert; the declaration per assignment
//	DeclineAssignment(DeclineCommand)             expert; with a reason
//	ReplaceExperts(ReplaceCommand) → ReplaceResult ministry; fills only the open places
//
// Panels. A batch opened since panel rules (selection.BatchState.Panels) has
// panels of at least selection.MinPerApplication; an expert scores an
// application only after declaring no conflict with it (DeclareNoConflict, or
// SubmitScores with DeclareNoConflict set); an expert declines with a reason;
// the ministry replaces declined or silent experts and the solver fills only
// those places (activity ReplaceSelectionExperts), every other assignment
// unchanged. Before the scoring deadline the batch records
// ScoringReminderDue at each of selection.ReminderLeads, and at it
// ExpertsSilent naming the experts who had not scored.
//
// Thresholds and consensus. ProposeRanking ranks with the batch's pass
// scores (an application below one is never selected, so a quota place may
// stay empty) and refuses, from its activity, while a panel whose totals
// spread beyond the batch's ConsensusSpread has recorded no consensus
// (RecordConsensus). The ministry may then overrule the proposal for one
// application at a time, with a reason (OverruleRanking), before confirming.
// Upholding an objection during the notice strikes the application out and
// moves the next-ranked eligible one up (SuccessorNoticed), on public notice
// for the batch's working days; publication waits for that notice to end.
//
// Deadlines. Each stage has a deadline (the recommendation's from the
// parameters, later ones from the stage's period, the notice's from the
// working-day calendar). When it passes, StageDeadlinePassed is recorded and
// the stage stays until the ministry acts: only the ministry advances stages,
// so the deadline bounds what others do (recommendations, scores, objections),
// and the ministry may extend it. The batch reads the time, and waits for a
// deadline, only through its Clock: workflow time in production, a
// DilatedClock in a test against a real server (see RegisterWith).
//
// Streams. The workflow is the only writer of selection.SelectionBatchStream
// (every batch event) and of selection.ProjectStream (ProjectCreated).
//
// Scale. Per-application work runs in batched activities that read the log
// themselves (applications, the expert pool, the scores), and the workflow
// keeps a compact selection.BatchState; the run continues as new after
// selectionUpdatesPerRun updates or when the server suggests it.
const (
	SelectionBatchWorkflowName = "SelectionBatch"

	UpdateRaiseProvinceQuota    = "RaiseProvinceQuota"
	UpdateRecommendApplications = "RecommendApplications"
	UpdateDecideQualification   = "DecideQualification"
	UpdateResubmitCorrection    = "ResubmitCorrection"
	UpdateAdvanceStage          = "AdvanceStage"
	UpdateReopenStage           = "ReopenStage"
	UpdateExtendStageDeadline   = "ExtendStageDeadline"
	UpdateAssignExperts         = "AssignExperts"
	UpdateSubmitScores          = "SubmitScores"
	UpdateProposeRanking        = "ProposeRanking"
	UpdateConfirmRanking        = "ConfirmRanking"
	UpdateRecordConsensus       = "RecordConsensus"
	UpdateOverruleRanking       = "OverruleRanking"
	UpdateFileObjection         = "FileObjection"
	UpdateAdjudicateObjection   = "AdjudicateObjection"
	UpdatePublishSelection      = "PublishSelection"
	UpdateDeclareNoConflict     = "DeclareNoConflict"
	UpdateDeclineAssignment     = "DeclineAssignment"
	UpdateReplaceExperts        = "ReplaceExperts"
	QuerySelectionBatchStatus   = "SelectionBatchStatus"
)

// SelectionBatchWorkflowID is the workflow id of a batch.
func SelectionBatchWorkflowID(batchID string) string { return "selection-batch-" + batchID }

// SelectionBatchParams start a batch; Batch is checked by selection.OpenBatch.
type SelectionBatchParams struct {
	Batch selection.SelectionBatchOpened `json:"batch"`
	Actor events.Metadata                `json:"actor"`
	// Carry is set only by the batch itself when it continues as new.
	Carry *SelectionBatchCarry `json:"carry,omitempty"`
}

// SelectionBatchCarry is what a run hands to the next.
type SelectionBatchCarry struct {
	State   selection.BatchState `json:"state"`
	Version int64                `json:"version"` // of the batch stream
	Steps   int                  `json:"steps"`   // commands handled, for unique step names
	Runs    int                  `json:"runs"`    // runs before this one
	// Recent holds the ids of the updates completed lately, so that one sent
	// again after the run continued as new is not executed twice.
	Recent RecentUpdates `json:"recent,omitzero"`
}

// The carried state of a national batch is about half a megabyte of JSON —
// thousands of application ids and their expert indices, close to the size at
// which Temporal warns of a large payload — and it compresses well, since the
// ids share their patterns. So a carry travels gzip-compressed, as
// {"gzip": base64}; a carry written before compression (plain JSON) still
// reads.
type carryJSON SelectionBatchCarry

type packedCarry struct {
	Gzip []byte `json:"gzip"`
}

func (c SelectionBatchCarry) MarshalJSON() ([]byte, error) {
	raw, err := json.Marshal(carryJSON(c))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return json.Marshal(packedCarry{Gzip: buf.Bytes()})
}

func (c *SelectionBatchCarry) UnmarshalJSON(b []byte) error {
	var p packedCarry
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("selection batch carry: %w", err)
	}
	raw := b
	if p.Gzip != nil {
		zr, err := gzip.NewReader(bytes.NewReader(p.Gzip))
		if err != nil {
			return fmt.Errorf("selection batch carry: %w", err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return fmt.Errorf("selection batch carry: %w", err)
		}
	}
	var plain carryJSON
	if err := json.Unmarshal(raw, &plain); err != nil {
		return fmt.Errorf("selection batch carry: %w", err)
	}
	*c = SelectionBatchCarry(plain)
	return nil
}

type RaiseQuotaCommand struct {
	Province string          `json:"province"`
	Quota    int             `json:"quota"`
	Reason   string          `json:"reason"`
	Actor    events.Metadata `json:"actor"`
}

type RecommendCommand struct {
	Province     string   `json:"province"`
	Applications []string `json:"applications"` // ranked, first = 1
	// Reasons, by application, for schools outside the province's filed
	// 实施单位 (selection.BatchState.OutsideUnits).
	Reasons map[string]string `json:"reasons,omitempty"`
	Actor   events.Metadata   `json:"actor"`
}

type QualifyCommand struct {
	Decisions []selection.QualificationDecision `json:"decisions"`
	Actor     events.Metadata                   `json:"actor"`
}

type ResubmitCommand struct {
	Application string          `json:"application"`
	Actor       events.Metadata `json:"actor"`
}

type AdvanceCommand struct {
	From  selection.Stage `json:"from"`
	To    selection.Stage `json:"to"`
	Actor events.Metadata `json:"actor"`
}

type ReopenCommand struct {
	Stage  selection.Stage `json:"stage"` // the stage to go back to
	Reason string          `json:"reason"`
	Actor  events.Metadata `json:"actor"`
}

type ExtendStageCommand struct {
	Stage    selection.Stage `json:"stage"`
	Deadline time.Time       `json:"deadline"`
	Actor    events.Metadata `json:"actor"`
}

type AssignCommand struct {
	Actor events.Metadata `json:"actor"`
}

// AssignResult summarises an assignment; the assignments themselves are in
// the log (ExpertsAssigned, in chunks).
type AssignResult struct {
	Round        int `json:"round"`
	Applications int `json:"applications"`
	Experts      int `json:"experts"` // distinct experts used
	TotalLevel   int `json:"total_level"`
}

type ScoresCommand struct {
	Expert string                        `json:"expert"`
	Scores []selection.ApplicationScores `json:"scores"`
	// DeclareNoConflict signs the declaration of no conflict for the scored
	// applications not yet declared, before the scores.
	DeclareNoConflict bool            `json:"declare_no_conflict,omitempty"`
	Actor             events.Metadata `json:"actor"`
}

type DeclareNoConflictCommand struct {
	Expert       string          `json:"expert"`
	Applications []string        `json:"applications"`
	Actor        events.Metadata `json:"actor"`
}

type DeclineCommand struct {
	Expert      string          `json:"expert"`
	Application string          `json:"application"`
	Reason      string          `json:"reason"`
	Conflict    bool            `json:"conflict,omitempty"` // the reason is a conflict of interest
	Actor       events.Metadata `json:"actor"`
}

type ReplaceCommand struct {
	Slots  []selection.Slot `json:"slots"`
	Reason string           `json:"reason"`
	Actor  events.Metadata  `json:"actor"`
}

// ReplaceResult names the new places: application and the expert now on it.
type ReplaceResult struct {
	Round        int              `json:"round"`
	Replacements []selection.Slot `json:"replacements"`
}

type RankCommand struct {
	Actor events.Metadata `json:"actor"`
}

// RankResult is the proposal to confirm: its round and the list above the cut.
type RankResult struct {
	Round    int          `json:"round"`
	Selected []string     `json:"selected"`
	Cut      *scoring.Cut `json:"cut,omitempty"`
	Outliers []string     `json:"outliers,omitempty"` // applications whose experts disagree
	Vacant   int          `json:"vacant,omitempty"`   // quota places no application at the pass scores fills
}

// ConsensusCommand records a panel's agreed marks for one application, one
// per rubric criterion, with the rationale. Expert is the panel member
// recording it; empty when the ministry records the panel's agreement.
type ConsensusCommand struct {
	Application string          `json:"application"`
	Criteria    []int           `json:"criteria"`
	Rationale   string          `json:"rationale"`
	Expert      string          `json:"expert,omitempty"`
	Actor       events.Metadata `json:"actor"`
}

// OverruleCommand overrules the current proposal for one application:
// Decision selection.OverruleInclude or selection.OverruleExclude.
type OverruleCommand struct {
	Application string          `json:"application"`
	Decision    string          `json:"decision"`
	Reason      string          `json:"reason"`
	Actor       events.Metadata `json:"actor"`
}

type ConfirmRankingCommand struct {
	Round int             `json:"round"`
	Actor events.Metadata `json:"actor"`
}

// ObjectionCommand files a real-name objection; ObjectionID defaults to the
// update id. An objection whose id was filed already, against the same
// application, answers that id and records nothing, so a form sent twice
// files one objection.
type ObjectionCommand struct {
	ObjectionID string          `json:"objection_id,omitempty"`
	Application string          `json:"application"`
	Name        string          `json:"name"`
	Contact     string          `json:"contact"`
	Text        string          `json:"text"`
	Actor       events.Metadata `json:"actor"`
}

type AdjudicateCommand struct {
	ObjectionID string                 `json:"objection_id"`
	Outcome     selection.Adjudication `json:"outcome"`
	Reason      string                 `json:"reason"`
	Actor       events.Metadata        `json:"actor"`
}

type PublishCommand struct {
	Actor events.Metadata `json:"actor"`
}

// SelectionBatchStatus is the batch as the workflow sees it, in counts: the
// per-application detail is in the read models.
type SelectionBatchStatus struct {
	BatchID     string                  `json:"batch_id"`
	TaskItem    string                  `json:"task_item"`
	Stage       selection.Stage         `json:"stage"`
	Deadline    time.Time               `json:"deadline"`
	Overdue     bool                    `json:"overdue"`
	Recommended int                     `json:"recommended"`
	Outcomes    map[string]int          `json:"outcomes"` // passed, failed, returned, pending
	Assigned    int                     `json:"assigned"`
	FullyScored int                     `json:"fully_scored"`
	Proposed    int                     `json:"proposed"` // round of the current proposal, 0 if none
	Confirmed   []string                `json:"confirmed,omitempty"`
	Notice      *selection.NoticePeriod `json:"notice,omitempty"`
	Objections  int                     `json:"objections"`
	Pending     int                     `json:"pending_objections"`
	Published   []string                `json:"published,omitempty"`
	Runs        int                     `json:"runs"` // runs so far, continue-as-new included
}
