package api_test

import (
	"net/http"
	"testing"
)

func TestTimeline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bj := e.register(bjBody)
	e.project()

	t.Run("MinistryReadsAnyStream", func(t *testing.T) {
		res := e.do("GET", "/api/v1/streams/user-bj/timeline", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		entries, _ := res.json["entries"].([]any)
		if len(entries) != 2 || entries[0].(map[string]any)["event_type"] != "UserRegistered" ||
			entries[0].(map[string]any)["actor_id"] != "admin" {
			t.Fatalf("timeline: %s", res.Body)
		}
	})
	t.Run("Limit", func(t *testing.T) {
		res := e.do("GET", "/api/v1/streams/user-bj/timeline?limit=1", e.adminToken, "")
		if entries, _ := res.json["entries"].([]any); len(entries) != 1 {
			t.Fatalf("limit=1: %s", res.Body)
		}
	})
	t.Run("ErrLimit", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/streams/user-bj/timeline?limit=abc", e.adminToken, ""), http.StatusBadRequest, "limit")
		want(t, e.do("GET", "/api/v1/streams/user-bj/timeline?limit=0", e.adminToken, ""), http.StatusBadRequest, "limit")
	})
	t.Run("ProvinceReadsOwnUserStream", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/streams/user-bj/timeline", bj, ""), http.StatusOK, "")
	})
	t.Run("ErrProvinceReadsOthers", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/streams/user-admin/timeline", bj, ""), http.StatusForbidden, "")
		want(t, e.do("GET", "/api/v1/streams/intent-11/timeline", bj, ""), http.StatusForbidden, "")
	})
	t.Run("UnknownStreamIsEmpty", func(t *testing.T) {
		res := e.do("GET", "/api/v1/streams/nothing/timeline", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		if entries, ok := res.json["entries"].([]any); !ok || len(entries) != 0 {
			t.Fatalf("entries: %s", res.Body)
		}
	})
}
