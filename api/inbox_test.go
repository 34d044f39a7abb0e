package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/notifications"
	"keytask/projections"
)

// projectNotices brings the notifier's inbox up to date with the log, after
// the read models it takes recipients from.
func (e *env) projectNotices() {
	e.t.Helper()
	ctx := context.Background()
	// The notifier waits for every read model it looks names up in
	// (notifications.Dependencies), so each is rebuilt before it.
	for _, p := range []projections.Projection{projections.Users{}, projections.IntentLiaisons{},
		projections.SelectionApplications{}, projections.SelectionBatches{}, notifications.Notifier{}} {
		if _, err := projections.Rebuild(ctx, e.d.Pool, e.store, p, nil); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj, tj, _ := e.users()
	data, _ := json.Marshal(intent.IntentReminderSent{RoundID: "R1", Province: "11", Offset: 72 * time.Hour})
	if _, err := e.store.Append(context.Background(), intent.RoundStream("R1"), events.AnyVersion, events.NewEvent{
		ID: events.DeriveID("inbox-test", "reminder"), Type: intent.TypeIntentReminderSent, SchemaVersion: 1, Data: data,
	}); err != nil {
		t.Fatal(err)
	}
	e.projectNotices()

	res := e.do("GET", "/api/v1/inbox", bj, "")
	want(t, res, http.StatusOK, "")
	list, _ := res.json["notifications"].([]any)
	if len(list) != 1 || res.json["unread"] != float64(1) {
		t.Fatalf("bj's inbox: %s", res.Body.String())
	}
	entry, _ := list[0].(map[string]any)
	id, _ := entry["id"].(string)
	if entry["title"] != "承接意向表填报提醒" || entry["read_at"] != nil {
		t.Fatalf("entry %v", entry)
	}

	t.Run("OthersSeeNothing", func(t *testing.T) {
		res := e.do("GET", "/api/v1/inbox", tj, "")
		want(t, res, http.StatusOK, "")
		if l, _ := res.json["notifications"].([]any); len(l) != 0 {
			t.Fatalf("tj sees %s", res.Body.String())
		}
		want(t, e.do("GET", "/api/v1/inbox", e.adminToken, ""), http.StatusOK, "")
		want(t, e.do("POST", "/api/v1/inbox/"+id+"/read", tj, ""), http.StatusNotFound, "id")
	})
	t.Run("BadQuery", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/inbox?limit=0", bj, ""), http.StatusBadRequest, "limit")
		want(t, e.do("GET", "/api/v1/inbox?unread=maybe", bj, ""), http.StatusBadRequest, "unread")
	})
	t.Run("MarkRead", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/inbox/"+id+"/read", bj, ""), http.StatusNoContent, "")
		res := e.do("GET", "/api/v1/inbox?unread=true", bj, "")
		want(t, res, http.StatusOK, "")
		if l, _ := res.json["notifications"].([]any); len(l) != 0 || res.json["unread"] != float64(0) {
			t.Fatalf("after marking read: %s", res.Body.String())
		}
		res = e.do("POST", "/api/v1/inbox/read", bj, "")
		want(t, res, http.StatusOK, "")
		if res.json["marked"] != float64(0) {
			t.Fatalf("mark all: %s", res.Body.String())
		}
	})
	t.Run("Email", func(t *testing.T) {
		want(t, e.do("PUT", "/api/v1/inbox/email", bj, `{"email":"not an address"}`), http.StatusUnprocessableEntity, "email")
		before := e.countEvents(identity.SettingsStream("bj"))
		want(t, e.do("PUT", "/api/v1/inbox/email", bj, `{"email":"BJ@Example.org"}`, "Idempotency-Key", "mail-1"), http.StatusOK, "")
		want(t, e.do("PUT", "/api/v1/inbox/email", bj, `{"email":"BJ@Example.org"}`, "Idempotency-Key", "mail-1"), http.StatusOK, "")
		if got := e.countEvents(identity.SettingsStream("bj")); got != before+1 {
			t.Fatalf("%d events after a repeated request, want %d", got, before+1)
		}
		e.projectNotices()
		res := e.do("GET", "/api/v1/inbox", bj, "")
		if res.str("email") != "bj@example.org" {
			t.Fatalf("email after setting: %s", res.Body.String())
		}
		if res := e.do("GET", "/api/v1/inbox", tj, ""); res.str("email") != "" {
			t.Fatalf("tj's email: %s", res.Body.String())
		}
	})
	t.Run("RebuildKeepsReadState", func(t *testing.T) {
		e.projectNotices()
		res := e.do("GET", "/api/v1/inbox", bj, "")
		l, _ := res.json["notifications"].([]any)
		if len(l) != 1 || l[0].(map[string]any)["read_at"] == nil {
			t.Fatalf("after a replay: %s", res.Body.String())
		}
	})
}
