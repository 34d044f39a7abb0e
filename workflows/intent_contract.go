package workflows

import (
	"time"

	"keytask/domain/intent"
	"keytask/events"
)

// The intent round (承接意向): one workflow per round carries it from opening to
// filing. People act on it through Workflow Updates (deduplicated by update id,
// unlike signals); each update's validator refuses a bad or illegal command
// before anything is recorded.
const (
	IntentRoundWorkflowName = "IntentRound"

	UpdateSaveIntentDraft  = "SaveIntentDraft"
	UpdateSubmitIntent     = "SubmitIntent"
	UpdateReturnIntent     = "ReturnIntent"
	UpdateExtendProvince   = "ExtendProvinceDeadline"
	UpdateFileIntentRound  = "FileIntentRound"
	UpdateRecordFeedback   = "RecordIntentFeedback"
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
}

// FormCommand saves or submits a province's form.
type FormCommand struct {
	Province string           `json:"province"`
	Input    intent.FormInput `json:"input"`
	Actor    events.Metadata  `json:"actor"`
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
	Status    string     `json:"status"` // none, draft, submitted, returned
	Extension *time.Time `json:"extension,omitempty"`
	Late      bool       `json:"late,omitempty"`
}
