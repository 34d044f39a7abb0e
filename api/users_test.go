package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"keytask/domain/identity"
	"keytask/events"
)

const bjBody = `{"user_id":"bj","name":"北京市人社局联络员","role":"province","organisation":"11"}`

func TestRegisterProvinceUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.do("POST", "/api/v1/users", e.adminToken, bjBody, "X-Request-Id", "req-reg-1", "X-Correlation-Id", "corr-1")
	want(t, res, http.StatusCreated, "")
	// The ministry registers the user but is handed no credential of theirs.
	if _, ok := res.json["token"]; ok || strings.Contains(res.Body.String(), "token") {
		t.Fatalf("registration answered a token: %s", res.Body)
	}
	token := e.issueToken("bj")

	t.Run("EventsCarryActorAndRequest", func(t *testing.T) {
		evs, err := e.store.ReadStream(context.Background(), "user-bj", events.ReadOptions{})
		if err != nil || len(evs) != 2 || evs[0].Type != "UserRegistered" || evs[1].Type != "TokenIssued" {
			t.Fatalf("events %+v, %v", evs, err)
		}
		want := events.Metadata{ActorID: "admin", Role: "ministry", Organisation: "MOHRSS", RequestID: "req-reg-1", CorrelationID: "corr-1"}
		if evs[0].Metadata != want {
			t.Fatalf("metadata %+v, want %+v", evs[0].Metadata, want)
		}
		if strings.Contains(string(evs[1].Data), token) || strings.Contains(string(evs[1].Data), identity.HashToken(token)) {
			t.Fatal("the log holds the token or its hash")
		}
	})
	t.Run("TokenWorksOnceUserProjected", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/me", token, ""), http.StatusUnauthorized, "Authorization")
		e.project()
		res := e.do("GET", "/api/v1/me", token, "")
		want(t, res, http.StatusOK, "")
		if res.str("user_id") != "bj" || res.str("role") != "province" || res.str("organisation") != "11" || res.str("role_label") != "省级人社厅" {
			t.Fatalf("me = %s", res.Body)
		}
	})
	t.Run("ErrProvinceCannotListUsers", func(t *testing.T) {
		want(t, e.do("GET", "/api/v1/users", token, ""), http.StatusForbidden, "")
	})
	t.Run("ErrProvinceCannotRegister", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/users", token, `{"user_id":"x","name":"x","role":"school","organisation":"s1"}`), http.StatusForbidden, "")
		if n := e.countEvents("user-x"); n != 0 {
			t.Fatalf("%d events appended by a refused request", n)
		}
	})
	t.Run("MinistryListsUsers", func(t *testing.T) {
		res := e.do("GET", "/api/v1/users", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		users, _ := res.json["users"].([]any)
		if len(users) != 2 || users[0].(map[string]any)["user_id"] != "admin" || users[1].(map[string]any)["user_id"] != "bj" {
			t.Fatalf("users = %s", res.Body)
		}
	})
	t.Run("AuditorListsButCannotRegister", func(t *testing.T) {
		tok := e.register(`{"user_id":"audit","name":"审计员","role":"auditor","organisation":"审计署"}`)
		e.project()
		want(t, e.do("GET", "/api/v1/users", tok, ""), http.StatusOK, "")
		want(t, e.do("POST", "/api/v1/users", tok, `{"user_id":"y","name":"y","role":"school","organisation":"s1"}`), http.StatusForbidden, "")
	})
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"ErrRoleMissing", `{"user_id":"u1","name":"张三","organisation":"11"}`, 422, "role"},
		{"ErrRoleUnknown", `{"user_id":"u1","name":"张三","role":"root","organisation":"11"}`, 422, "role"},
		{"ErrUserIDMissing", `{"name":"张三","role":"province","organisation":"11"}`, 422, "user_id"},
		{"ErrUserIDMalformed", `{"user_id":"../admin","name":"张三","role":"province","organisation":"11"}`, 422, "user_id"},
		{"ErrNameBlank", `{"user_id":"u1","name":"  ","role":"province","organisation":"11"}`, 422, "name"},
		{"ErrProvinceCode", `{"user_id":"u1","name":"张三","role":"province","organisation":"北京"}`, 422, "organisation"},
		{"ErrUnknownField", `{"user_id":"u1","name":"张三","role":"province","organisation":"11","password":"x"}`, 400, "password"},
		{"ErrWrongType", `{"user_id":"u1","name":7,"role":"province","organisation":"11"}`, 400, "name"},
		{"ErrBadJSON", `{"user_id":"u1",`, 400, ""},
		{"ErrSyntax", `{"user_id" "u1"}`, 400, ""},
		{"ErrNotAnObject", `["u1"]`, 400, ""},
		{"ErrEmptyBody", ``, 400, ""},
		{"ErrTwoObjects", `{"user_id":"u1","name":"张三","role":"province","organisation":"11"} {}`, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want(t, e.do("POST", "/api/v1/users", e.adminToken, c.body), c.status, c.field)
			if n := e.countEvents("user-u1"); n != 0 {
				t.Fatalf("%d events appended for a bad request", n)
			}
		})
	}
	t.Run("ErrBadIdempotencyKey", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/users", e.adminToken, bjBody, "Idempotency-Key", "a b"), 400, "Idempotency-Key")
	})
}

func TestRegisterIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.do("POST", "/api/v1/users", e.adminToken, bjBody, "Idempotency-Key", "k-1")
	want(t, first, http.StatusCreated, "")

	t.Run("SameKeyAppendsNothing", func(t *testing.T) {
		again := e.do("POST", "/api/v1/users", e.adminToken, bjBody, "Idempotency-Key", "k-1")
		want(t, again, http.StatusOK, "")
		if again.json["replayed"] != true {
			t.Fatalf("replay answered %s", again.Body)
		}
		if n := e.countEvents("user-bj"); n != 1 {
			t.Fatalf("user-bj has %d events, want 1", n)
		}
	})
	t.Run("ErrSameKeyOtherBody", func(t *testing.T) {
		body := strings.Replace(bjBody, "联络员", "管理员", 1)
		want(t, e.do("POST", "/api/v1/users", e.adminToken, body, "Idempotency-Key", "k-1"), 422, "Idempotency-Key")
	})
	t.Run("ErrSameKeyOtherUser", func(t *testing.T) {
		body := `{"user_id":"sh","name":"上海","role":"province","organisation":"31"}`
		want(t, e.do("POST", "/api/v1/users", e.adminToken, body, "Idempotency-Key", "k-1"), 422, "Idempotency-Key")
		if n := e.countEvents("user-sh"); n != 0 {
			t.Fatalf("user-sh has %d events", n)
		}
	})
	t.Run("ErrUserTaken", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/users", e.adminToken, bjBody, "Idempotency-Key", "k-2"), http.StatusConflict, "user_id")
		want(t, e.do("POST", "/api/v1/users", e.adminToken, bjBody), http.StatusConflict, "user_id")
	})
	t.Run("WithoutKeyRetryIsReplay", func(t *testing.T) {
		body := `{"user_id":"gd","name":"广东","role":"province","organisation":"44"}`
		want(t, e.do("POST", "/api/v1/users", e.adminToken, body), http.StatusCreated, "")
		again := e.do("POST", "/api/v1/users", e.adminToken, body)
		want(t, again, http.StatusOK, "")
		if again.json["replayed"] != true || e.countEvents("user-gd") != 1 {
			t.Fatalf("retry without key: %s, %d events", again.Body, e.countEvents("user-gd"))
		}
		changed := strings.Replace(body, "广东", "广东省", 1)
		want(t, e.do("POST", "/api/v1/users", e.adminToken, changed), http.StatusConflict, "user_id")
	})
	t.Run("ConcurrentRetriesAppendOnce", func(t *testing.T) {
		body := `{"user_id":"js","name":"江苏","role":"province","organisation":"32"}`
		const n = 8
		codes := make(chan int, n)
		for range n {
			go func() {
				codes <- e.do("POST", "/api/v1/users", e.adminToken, body, "Idempotency-Key", "k-js").Code
			}()
		}
		created := 0
		for range n {
			switch code := <-codes; {
			case code == http.StatusCreated:
				created++
			case code != http.StatusOK:
				t.Errorf("a concurrent retry answered %d", code)
			}
		}
		if created != 1 || e.countEvents("user-js") != 1 {
			t.Fatalf("%d answered created, %d events; want 1 and 1", created, e.countEvents("user-js"))
		}
	})
}

// Every error answer carries a stable machine code beside the Chinese
// message, and the field when one is at fault.
func TestErrorsCarryCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		name, method, path, token, body string
		header                          []string
		status                          int
		code, field                     string
	}{
		{"no token", "GET", "/api/v1/users", "", "", nil, http.StatusUnauthorized, "unauthorized", "Authorization"},
		{"malformed JSON", "POST", "/api/v1/users", e.adminToken, `{"user_id":`, nil, http.StatusBadRequest, "bad_request", ""},
		{"unknown field", "POST", "/api/v1/users", e.adminToken, `{"nick":"x"}`, nil, http.StatusBadRequest, "bad_request", "nick"},
		{"bad key", "POST", "/api/v1/users", e.adminToken, bjBody, []string{"Idempotency-Key", "a b"}, http.StatusBadRequest, "bad_request", "Idempotency-Key"},
		{"invalid field", "POST", "/api/v1/users", e.adminToken, `{"user_id":"x1","name":"某","role":"wizard","organisation":"11"}`, nil, http.StatusUnprocessableEntity, "invalid", "role"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.method, c.path, c.token, c.body, c.header...)
			want(t, res, c.status, c.field)
			if res.str("code") != c.code {
				t.Fatalf("code %q, want %q: %s", res.str("code"), c.code, res.Body)
			}
		})
	}
	want(t, e.do("POST", "/api/v1/users", e.adminToken, bjBody, "Idempotency-Key", "k-code"), http.StatusCreated, "")
	reused := e.do("POST", "/api/v1/users", e.adminToken, strings.Replace(bjBody, "联络员", "管理员", 1), "Idempotency-Key", "k-code")
	want(t, reused, http.StatusUnprocessableEntity, "Idempotency-Key")
	if reused.str("code") != "idempotency_key_reused" || !strings.Contains(reused.str("error"), "k-code") {
		t.Fatalf("reused key: %s", reused.Body)
	}
	// A refused request does not hold its key: corrected, it goes through.
	want(t, e.do("POST", "/api/v1/users", e.adminToken, `{"user_id":"k2","name":"某","role":"wizard","organisation":"11"}`, "Idempotency-Key", "k-fix"),
		http.StatusUnprocessableEntity, "role")
	want(t, e.do("POST", "/api/v1/users", e.adminToken, `{"user_id":"k2","name":"某","role":"province","organisation":"11"}`, "Idempotency-Key", "k-fix"),
		http.StatusCreated, "")
}
