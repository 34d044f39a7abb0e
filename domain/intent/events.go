// Package intent holds the rules of the undertaking-intent round (承接意向): the
// plan catalogue of task items, the provinces' liaisons, and the intent form each
// province submits — whether it undertakes each task, how many, and the money
// expected from five funding sources, in exact integer yuan.
package intent

import "time"

// Streams.
func PlanStream(batchID string) string           { return "plan-" + batchID }
func LiaisonStream(province string) string       { return "liaison-" + province }
func RoundStream(roundID string) string          { return "intent-round-" + roundID }
func FormStream(roundID, province string) string { return "intent-form-" + roundID + "-" + province }

// Event types.
const (
	TypePlanBatchOpened          = "PlanBatchOpened"
	TypePlanItemsAdded           = "PlanItemsAdded"
	TypeLiaisonDeadlineSet       = "LiaisonDeadlineSet"
	TypeLiaisonRegistered        = "LiaisonRegistered"
	TypeIntentRoundOpened        = "IntentRoundOpened"
	TypeIntentDraftSaved         = "IntentDraftSaved"
	TypeIntentSubmitted          = "IntentSubmitted"
	TypeIntentReturned           = "IntentReturned"
	TypeProvinceDeadlineExtended = "ProvinceDeadlineExtended"
	TypeIntentReminderSent       = "IntentReminderSent"
	TypeIntentRoundClosed        = "IntentRoundClosed"
	TypeIntentRoundFiled         = "IntentRoundFiled"
	TypeIntentFeedbackRecorded   = "IntentFeedbackRecorded"
	TypeIntentLetterRecorded     = "IntentLetterRecorded"
	TypeIntentLetterArrived      = "IntentLetterArrived"
)

// Kind of a task item: a selection task has a national target counted in units;
// a development task (such as writing teaching standards) has no national
// target, though a province undertakes a number of them (项标准, 种教材).
type Kind string

const (
	KindSelection   Kind = "selection"
	KindDevelopment Kind = "development"
)

// TaskItem is one key task of a plan batch.
type TaskItem struct {
	Item   string `json:"item"`   // the notice's numbering, e.g. "2.1"
	Code   string `json:"code"`   // stable code, e.g. "YZYX"
	Name   string `json:"name"`   // e.g. "遴选优质技工院校"
	Target int64  `json:"target"` // national target ("左右"); 0 for development tasks
	Unit   string `json:"unit"`   // of 承接数量, e.g. "所"; "项标准" or "种教材" for development tasks
	Kind   Kind   `json:"kind"`
}

// PlanBatchOpened: the ministry opens a batch of the plan with its task items.
type PlanBatchOpened struct {
	BatchID string     `json:"batch_id"`
	Name    string     `json:"name"`
	Items   []TaskItem `json:"items"`
	// ConstructionEnd is the last day (YYYY-MM-DD, Asia/Shanghai) by which the
	// batch's projects must finish construction and pass acceptance. Batches
	// opened before it was recorded read as DefaultConstructionEnd.
	ConstructionEnd string `json:"construction_end,omitempty"`
}

// PlanItemsAdded: later items join an open batch.
type PlanItemsAdded struct {
	BatchID string     `json:"batch_id"`
	Items   []TaskItem `json:"items"`
}

// LiaisonDeadlineSet: provinces must register their liaison by Deadline.
type LiaisonDeadlineSet struct {
	Deadline time.Time `json:"deadline"`
}

// LiaisonRegistered: a province's liaison (联络员), replacing any earlier one.
type LiaisonRegistered struct {
	Province string `json:"province"`
	Name     string `json:"name"`
	Phone    string `json:"phone"`
	Email    string `json:"email"`
}

// IntentRoundOpened: the ministry opens an intent round for a plan batch.
type IntentRoundOpened struct {
	RoundID         string          `json:"round_id"`
	BatchID         string          `json:"batch_id"`
	Items           []TaskItem      `json:"items"`     // the catalogue as it stood at opening
	Provinces       []string        `json:"provinces"` // codes of the provinces expected to submit, sorted
	Deadline        time.Time       `json:"deadline"`
	ReminderOffsets []time.Duration `json:"reminder_offsets"` // before the deadline
}

// Line is one validated row of the intent form. Money is in yuan.
type Line struct {
	Item      string `json:"item"`
	Undertake bool   `json:"undertake"`
	Quantity  int64  `json:"quantity"` // 承接数量 in the item's unit; 0 for lines not undertaken
	Funds     Funds  `json:"funds"`
	Total     Yuan   `json:"total"` // computed by the server: the sum of Funds
	// Units are the 实施单位: the province's schools that carry the row,
	// named as the register had them when the form was saved.
	Units []Unit `json:"units,omitempty"`
}

// Form is a validated intent form with its server-computed totals.
type Form struct {
	Lines  []Line `json:"lines"`
	Totals Funds  `json:"totals"` // per source over all lines
	Total  Yuan   `json:"total"`  // over all lines and sources
}

// IntentDraftSaved: the province saved its form without submitting it.
type IntentDraftSaved struct {
	RoundID  string `json:"round_id"`
	Province string `json:"province"`
	Form     Form   `json:"form"`
}

// IntentSubmitted: the province submitted its form.
type IntentSubmitted struct {
	RoundID  string `json:"round_id"`
	Province string `json:"province"`
	Form     Form   `json:"form"`
	Late     bool   `json:"late"` // after the round's deadline, within an extension
}

// IntentReturned: the ministry returned a submitted form for revision.
type IntentReturned struct {
	RoundID  string `json:"round_id"`
	Province string `json:"province"`
	Reason   string `json:"reason"`
}

// ProvinceDeadlineExtended: one province may submit until Deadline.
type ProvinceDeadlineExtended struct {
	RoundID  string    `json:"round_id"`
	Province string    `json:"province"`
	Deadline time.Time `json:"deadline"`
}

// IntentReminderSent: a reminder went to a province that had not submitted.
type IntentReminderSent struct {
	RoundID  string        `json:"round_id"`
	Province string        `json:"province"`
	Offset   time.Duration `json:"offset"` // before the deadline
}

// IntentRoundClosed: the deadline passed; provinces without an extension can no
// longer submit.
type IntentRoundClosed struct {
	RoundID   string   `json:"round_id"`
	Submitted []string `json:"submitted"`
	Missing   []string `json:"missing"`
}

// IntentRoundFiled: the ministry aggregated and filed the round (汇总备案).
type IntentRoundFiled struct {
	RoundID string `json:"round_id"`
	// Early: filed before the deadline, every province having submitted.
	Early bool `json:"early,omitempty"`
}

// IntentFeedbackRecorded: the ministry's feedback to one province after filing.
type IntentFeedbackRecorded struct {
	RoundID  string `json:"round_id"`
	Province string `json:"province"`
	Text     string `json:"text"`
}
