package api_test

import (
	"net/http"
	"testing"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	t.Run("ErrNoToken", func(t *testing.T) {
		res := e.do("GET", "/api/v1/me", "", "")
		want(t, res, http.StatusUnauthorized, "Authorization")
		if res.Header().Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
	})
	t.Run("ErrBadToken", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/me", "not-a-token", ""), http.StatusUnauthorized, "Authorization")
	})
	t.Run("ErrNotBearer", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/me", "", "", "Authorization", "Basic "+e.adminToken), http.StatusUnauthorized, "Authorization")
	})
	t.Run("OK", func(t *testing.T) {
		res := e.do("GET", "/api/v1/me", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		for k, v := range map[string]string{"user_id": "admin", "name": "部管理员", "role": "ministry", "role_label": "部", "organisation": "MOHRSS"} {
			if got := res.str(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if res.Header().Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id in the response")
		}
	})
	t.Run("RequestIDEchoed", func(t *testing.T) {
		res := e.do("GET", "/api/v1/me", e.adminToken, "", "X-Request-Id", "req-42")
		if got := res.Header().Get("X-Request-Id"); got != "req-42" {
			t.Fatalf("X-Request-Id = %q", got)
		}
	})
}
