package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/domain"
	"keytask/domain/intent"
	"keytask/events"
)

// The intent round (承接意向): one workflow per round carries it from opening to
// filing. People act on it through Workflow Updates (deduplicated by update id,
// unlike signals); each update's validator refuses a bad or illegal command
// before anything is recorded.
//
// Updates and their results:
//
//	SaveIntentDraft(FormCommand)           → FormResult
//	SubmitIntent(FormCommand)              → FormResult
//	ReturnIntent(ReturnCommand)            → no result (error only)
//	ExtendProvinceDeadline(ExtendCommand)  → no result (error only)
//	FileIntentRound(FileCommand)           → no result (error only)
//	RecordIntentFeedback(FeedbackCommand)  → no result (error only)
//	RecordIntentLetter(LetterCommand)      → no result (error only)
//	MarkIntentLetterArrived(ArrivalCommand) → no result (error only)
//
// FileIntentRound files a closed round, or an open one before its deadline
// once every province has submitted (IntentRoundFiled.Early).
//
// Refusals. A command the rules refuse comes back from the update as a
// *temporal.ApplicationError, non-retryable, whose Type is UpdateFieldErrorType
// (HTTP 422) or UpdateConflictErrorType (HTTP 409), whose Message is the
// user's message in Simplified Chinese, and whose single detail is an
// UpdateRejection {field, message, detail}. DomainError turns such an error back
// into the *domain.FieldError or *domain.ConflictError the rule returned, so the
// API can report it like any other. Field names are those of the command's JSON:
// "province", "reason", "deadline", "text", and for forms the paths inside
// FormCommand.Input ("lines[2].funds.school", "lines[0].quantity", "total").
// Nothing refused is recorded: the validator refuses before the update enters
// the history, and the handler decides again under the round's lock (another
// command may have moved the state in between) before it appends. Any other
// error (the round is over and its workflow completed, an activity failed) is
// not the user's fault.
//
// Event ids are derived from the workflow id and a step name, so a round id must
// never be reused: start rounds with WorkflowIDReusePolicy RejectDuplicate (or
// check the round stream is empty).
//
// Streams. The workflow is the only writer of a round's streams:
//
//	intent.RoundStream(round)          IntentRoundOpened, IntentReminderSent, IntentRoundClosed, IntentRoundFiled
//	intent.FormStream(round, province) IntentDraftSaved, IntentSubmitted, IntentReturned,
//	                                   ProvinceDeadlineExtended, IntentFeedbackRecorded,
//	                                   IntentLetterRecorded, IntentLetterArrived
//
// Lifetime. The round closes at its deadline; provinces with an extension may
// still save and submit until their own deadline. Once filed, the round accepts
// feedback for FeedbackPeriod and then completes; later updates fail because the
// workflow is no longer running.
const (
	IntentRoundWorkflowName = "IntentRound"

	UpdateSaveIntentDraft  = "SaveIntentDraft"
	UpdateSubmitIntent     = "SubmitIntent"
	UpdateReturnIntent     = "ReturnIntent"
	UpdateExtendProvince   = "ExtendProvinceDeadline"
	UpdateFileIntentRound  = "FileIntentRound"
	UpdateRecordFeedback   = "RecordIntentFeedback"
	UpdateRecordLetter     = "RecordIntentLetter"
	UpdateLetterArrived    = "MarkIntentLetterArrived"
	QueryIntentRoundStatus = "IntentRoundStatus"
)

// IntentRoundWorkflowID is the workflow id of a round.
func IntentRoundWorkflowID(roundID string) string { return "intent-round-" + roundID }

// IntentRoundParams start a round.
type IntentRoundParams struct {
	RoundID         string            `json:"round_id"`
	BatchID         string            `json:"batch_id"`
	Items           []intent.TaskItem `json:"items"`     // the plan batch's catalogue when the round opens
	Provinces       []string          `json:"provinces"` // codes of the provinces expected to submit
	Deadline        time.Time         `json:"deadline"`
	ReminderOffsets []time.Duration   `json:"reminder_offsets"` // before the deadline, e.g. 7d, 3d, 1d
	Actor           events.Metadata   `json:"actor"`
	// FeedbackPeriod is how long after filing the round accepts feedback before
	// its workflow completes; 0 means DefaultFeedbackPeriod.
	FeedbackPeriod time.Duration `json:"feedback_period,omitempty"`
	// Carry is set only by the round itself when it continues as new.
	Carry *IntentRoundCarry `json:"carry,omitempty"`
}

// DefaultFeedbackPeriod is a year: feedback (反馈) follows filing within the
// plan's yearly cycle.
const DefaultFeedbackPeriod = 365 * 24 * time.Hour

// Error types of refused updates; see "Refusals" above. UpdateBusyErrorType
// refuses an update only for a moment (the run is about to continue as new);
// the caller sends it again.
const (
	UpdateFieldErrorType    = "FieldError"
	UpdateConflictErrorType = "ConflictError"
	UpdateBusyErrorType     = "Busy"
)

// BusyError refuses an update that the next run will take: a run stops
// admitting updates once it is due to continue as new, or its running
// handlers would never all finish under a steady stream of commands, and
// Temporal refuses every update past a run's limit of distinct updates.
func BusyError(detail string) error {
	return temporal.NewApplicationErrorWithOptions("busy: "+detail, UpdateBusyErrorType, temporal.ApplicationErrorOptions{NonRetryable: true})
}

// UpdateRejection is the detail of a refused update.
type UpdateRejection struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"` // for users, in Simplified Chinese
	Detail  string `json:"detail"`  // for logs, in English
}

// RejectionError turns a rule's *domain.FieldError or *domain.ConflictError into
// the application error an update refuses with; other errors pass unchanged.
func RejectionError(err error) error {
	var (
		ce *domain.ConflictError
		fe *domain.FieldError
	)
	switch {
	case errors.As(err, &ce):
		return temporal.NewApplicationErrorWithOptions(ce.Message, UpdateConflictErrorType, temporal.ApplicationErrorOptions{
			NonRetryable: true,
			Details:      []any{UpdateRejection{Field: ce.Field, Message: ce.Message, Detail: ce.Detail}},
		})
	case errors.As(err, &fe):
		return temporal.NewApplicationErrorWithOptions(fe.Message, UpdateFieldErrorType, temporal.ApplicationErrorOptions{
			NonRetryable: true,
			Details:      []any{UpdateRejection{Field: fe.Field, Message: fe.Message, Detail: fe.Detail}},
		})
	}
	return err
}

// DomainError finds a refused update's application error in err (as returned by
// the client's update handle) and returns the *domain.FieldError or
// *domain.ConflictError it carries; any other error is returned unchanged.
func DomainError(err error) error {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || (ae.Type() != UpdateFieldErrorType && ae.Type() != UpdateConflictErrorType) {
		return err
	}
	var r UpdateRejection
	if derr := ae.Details(&r); derr != nil {
		r = UpdateRejection{Message: ae.Message(), Detail: ae.Error()}
	}
	if ae.Type() == UpdateConflictErrorType {
		return domain.Conflict(r.Field, r.Message, r.Detail)
	}
	return domain.Invalid(r.Field, r.Message, r.Detail)
}

// FormCommand saves or submits a province's form. Schools are what the school
// register holds for the codes the form names as 实施单位 (intent.UnitCodes),
// read from the log by the caller: a workflow reads no database, and the rule
// (intent.CheckUnits) decides on them, so the validator and the handler decide
// alike.
type FormCommand struct {
	Province string                   `json:"province"`
	Input    intent.FormInput         `json:"input"`
	Schools  map[string]intent.School `json:"schools,omitempty"`
	Actor    events.Metadata          `json:"actor"`
}

// LetterCommand records the 厅函 that sends a province's form; its scan is
// already in the attachments store.
type LetterCommand struct {
	Province string             `json:"province"`
	Letter   intent.LetterInput `json:"letter"`
	Actor    events.Metadata    `json:"actor"`
}

// ArrivalCommand marks a province's 厅函 arrived at the ministry.
type ArrivalCommand struct {
	Province string          `json:"province"`
	Actor    events.Metadata `json:"actor"`
}

// ReturnCommand returns a submitted form to its province with a reason.
type ReturnCommand struct {
	Province string          `json:"province"`
	Reason   string          `json:"reason"`
	Actor    events.Metadata `json:"actor"`
}

// ExtendCommand lets one province submit until Deadline.
type ExtendCommand struct {
	Province string          `json:"province"`
	Deadline time.Time       `json:"deadline"`
	Actor    events.Metadata `json:"actor"`
}

// FileCommand files the closed round (汇总备案).
type FileCommand struct {
	Actor events.Metadata `json:"actor"`
}

// FeedbackCommand records the ministry's feedback to a province after filing.
type FeedbackCommand struct {
	Province string          `json:"province"`
	Text     string          `json:"text"`
	Actor    events.Metadata `json:"actor"`
}

// FormResult is what saving or submitting returns: the form as the server
// computed it.
type FormResult struct {
	Form    intent.Form `json:"form"`
	Version int64       `json:"version"` // the form stream's version after the append
}

// IntentRoundStatus is the round's state as the workflow sees it.
type IntentRoundStatus struct {
	RoundID   string               `json:"round_id"`
	Stage     string               `json:"stage"` // open, closed, filed
	Deadline  time.Time            `json:"deadline"`
	Provinces map[string]FormState `json:"provinces"`
}

// FormState is one province's form state in the round.
type FormState struct {
	Status    string              `json:"status"` // none, draft, submitted, returned
	Extension *time.Time          `json:"extension,omitempty"`
	Late      bool                `json:"late,omitempty"`
	Feedbacks int                 `json:"feedbacks,omitempty"` // feedback recorded after filing
	Letter    *intent.LetterState `json:"letter,omitempty"`    // the 厅函 recorded, and whether it arrived
}
