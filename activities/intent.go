package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/domain/intent"
	"keytask/events"
)

// IntentRemindersRequest asks for one reminder to each of Provinces, Offset
// before the round's deadline. IDs holds one event id per province, derived in
// the workflow, so a retry sends nobody a second reminder.
type IntentRemindersRequest struct {
	Stream    string          `json:"stream"`
	Expected  int64           `json:"expected"`
	RoundID   string          `json:"round_id"`
	Offset    time.Duration   `json:"offset"`
	Provinces []string        `json:"provinces"`
	IDs       []string        `json:"ids"`
	Metadata  events.Metadata `json:"metadata"`
}

// SendIntentReminders records an IntentReminderSent for each province in one
// append to the round's stream: either every province of the offset is reminded
// or none. The events are the reminders: the provinces' task lists and any
// notifier read them from the log.
func (a *Activities) SendIntentReminders(ctx context.Context, req IntentRemindersRequest) (AppendResult, error) {
	if len(req.Provinces) == 0 || len(req.IDs) != len(req.Provinces) {
		return AppendResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d reminder ids for %d provinces", len(req.IDs), len(req.Provinces)), "BadAppend", nil)
	}
	specs := make([]EventSpec, len(req.Provinces))
	for i, p := range req.Provinces {
		data, err := json.Marshal(intent.IntentReminderSent{RoundID: req.RoundID, Province: p, Offset: req.Offset})
		if err != nil {
			return AppendResult{}, temporal.NewNonRetryableApplicationError("encode reminder", "BadAppend", err)
		}
		specs[i] = EventSpec{ID: req.IDs[i], Type: intent.TypeIntentReminderSent, SchemaVersion: 1, Data: data, Metadata: req.Metadata}
	}
	return a.Append(ctx, AppendRequest{Stream: req.Stream, Expected: req.Expected, Events: specs})
}
