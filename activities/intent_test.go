package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/activities"
	"keytask/db/pgtest"
	"keytask/domain/intent"
	"keytask/events"
)

func remindersRequest() activities.IntentRemindersRequest {
	return activities.IntentRemindersRequest{
		Stream:    intent.RoundStream("2022-1"),
		Expected:  events.AnyVersion,
		RoundID:   "2022-1",
		Offset:    72 * time.Hour,
		Provinces: []string{"11", "44"},
		IDs: []string{
			events.DeriveID("workflow", "intent-round-2022-1", "remind/72h0m0s/11").String(),
			events.DeriveID("workflow", "intent-round-2022-1", "remind/72h0m0s/44").String(),
		},
		Metadata: events.Metadata{ActorID: "system", Role: "ministry", WorkflowID: "intent-round-2022-1"},
	}
}

func TestSendIntentReminders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := events.NewStore(pgtest.New(t).Pool)
	a := &activities.Activities{Store: store}

	t.Run("OnePerProvince", func(t *testing.T) {
		res, err := a.SendIntentReminders(ctx, remindersRequest())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Versions, []int64{1, 2}) {
			t.Fatalf("versions %v", res.Versions)
		}
		evs, err := store.ReadStream(ctx, intent.RoundStream("2022-1"), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range []string{"11", "44"} {
			var got intent.IntentReminderSent
			if err := json.Unmarshal(evs[i].Data, &got); err != nil {
				t.Fatal(err)
			}
			want := intent.IntentReminderSent{RoundID: "2022-1", Province: p, Offset: 72 * time.Hour}
			if evs[i].Type != intent.TypeIntentReminderSent || got != want || evs[i].Metadata.WorkflowID != "intent-round-2022-1" {
				t.Errorf("event %d: %s %+v %+v, want %+v", i, evs[i].Type, got, evs[i].Metadata, want)
			}
		}
	})

	t.Run("RetryRemindsNobodyTwice", func(t *testing.T) {
		res, err := a.SendIntentReminders(ctx, remindersRequest())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Versions, []int64{1, 2}) {
			t.Fatalf("retry got versions %v, want the original ones", res.Versions)
		}
		if v, _ := store.StreamVersion(ctx, intent.RoundStream("2022-1")); v != 2 {
			t.Fatalf("stream at version %d after a retry, want 2", v)
		}
	})

	t.Run("IDsMustMatchProvinces", func(t *testing.T) {
		req := remindersRequest()
		req.Stream = intent.RoundStream("other")
		req.IDs = req.IDs[:1]
		_, err := a.SendIntentReminders(ctx, req)
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || !ae.NonRetryable() {
			t.Fatalf("err = %v, want a non-retryable application error", err)
		}
		if v, _ := store.StreamVersion(ctx, req.Stream); v != 0 {
			t.Fatalf("refused request appended %d events", v)
		}
	})
}
