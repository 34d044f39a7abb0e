package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"keytask/api"
	"keytask/domain/identity"
	"keytask/events"
	"keytask/projections"
)

// browser is a cookie-keeping client of the test server's handler.
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
	remote  string
}

func (e *env) browser(remote string) *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, remote: remote}
}

func (b *browser) do(method, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.RemoteAddr = b.remote + ":40000"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.srv.Handler().ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.e.t.Helper()
	rec := b.do("GET", path, nil)
	m := csrfInput.FindStringSubmatch(rec.Body.String())
	if m == nil {
		b.e.t.Fatalf("GET %s (%d): no CSRF token in %s", path, rec.Code, rec.Body.String())
	}
	return m[1]
}

func (b *browser) login(user, password string) *httptest.ResponseRecorder {
	b.e.t.Helper()
	token := b.csrf("/login")
	return b.do("POST", "/login", url.Values{"csrf_token": {token}, "user_id": {user}, "password": {password}, "next": {"/web/"}})
}

// withPages sets up every read model the pages query.
func (e *env) withPages() {
	e.t.Helper()
	if err := projections.Setup(context.Background(), e.d.Pool, projections.All()...); err != nil {
		e.t.Fatal(err)
	}
}

func TestLoginSessionAndLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withPages()
	bj, _, _ := e.users()
	ctx := context.Background()
	if err := api.SetPassword(ctx, e.d.Pool, "bj", "short"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("short password accepted: %v", err)
	}
	if err := api.SetPassword(ctx, e.d.Pool, "nobody", "long enough password"); err == nil {
		t.Fatal("password set for an unknown user")
	}
	if err := api.SetPassword(ctx, e.d.Pool, "bj", "北京的正确密码123"); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := e.d.Pool.QueryRow(ctx, `SELECT password_hash FROM credentials WHERE user_id = 'bj'`).Scan(&stored); err != nil ||
		!strings.HasPrefix(stored, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(stored, "北京") {
		t.Fatalf("stored %q, %v", stored, err)
	}

	b := e.browser("10.0.0.1")
	if rec := b.do("GET", "/web/", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=") {
		t.Fatalf("anonymous dashboard: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	// The login form's own CSRF token is required.
	if rec := b.do("POST", "/login", url.Values{"user_id": {"bj"}, "password": {"北京的正确密码123"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("login without CSRF token: %d", rec.Code)
	}
	if rec := b.login("bj", "wrong password!"); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "用户ID或密码错误") {
		t.Fatalf("wrong password: %d %s", rec.Code, rec.Body.String())
	}
	rec := b.login("bj", "北京的正确密码123")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/web/" {
		t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	c := b.cookies["keytask_session"]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
		t.Fatalf("session cookie %+v", c)
	}
	var n int
	if err := e.d.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = 'bj' AND id_hash <> $1`, c.Value).Scan(&n); err != nil || n != 1 {
		t.Fatalf("sessions stored: %d, %v (only the hash, never the cookie)", n, err)
	}
	// The page to return to after login is only ever on this site.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		x := e.browser("10.0.0.9")
		token := x.csrf("/login")
		rec := x.do("POST", "/login", url.Values{"csrf_token": {token}, "user_id": {"bj"}, "password": {"北京的正确密码123"}, "next": {next}})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/web/" {
			t.Fatalf("next=%s: %d to %s", next, rec.Code, rec.Header().Get("Location"))
		}
	}
	home := b.do("GET", "/web/", nil)
	if home.Code != http.StatusOK || !strings.Contains(home.Body.String(), "北京市人社局") || !strings.Contains(home.Body.String(), `lang="zh-CN"`) {
		t.Fatalf("dashboard: %d %s", home.Code, home.Body.String())
	}

	// A state-changing request with the session but without its token is refused.
	if rec := b.do("POST", "/logout", url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("logout without CSRF token: %d", rec.Code)
	}
	if rec := b.do("POST", "/logout", url.Values{"csrf_token": {"forged"}}); rec.Code != http.StatusForbidden {
		t.Fatalf("logout with a forged token: %d", rec.Code)
	}
	// A JSON API call with the cookie needs the token in the header.
	if rec := b.do("PUT", "/api/v1/provinces/11/liaison", nil); rec.Code != http.StatusForbidden {
		t.Fatalf("API write by cookie without CSRF header: %d", rec.Code)
	}
	// Bearer tokens keep working without any cookie.
	if res := e.do("GET", "/api/v1/me", bj, ""); res.Code != http.StatusOK || res.str("user_id") != "bj" {
		t.Fatalf("bearer: %d %s", res.Code, res.Body.String())
	}

	token := b.csrf("/web/")
	if rec := b.do("POST", "/logout", url.Values{"csrf_token": {token}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body.String())
	}
	if err := e.d.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE id_hash = $1`, identity.HashToken(c.Value)).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the session after logout: %d, %v", n, err)
	}
	// The old cookie is worthless after logout, even if replayed.
	replay := e.browser("10.0.0.1")
	replay.cookies["keytask_session"] = c
	if rec := replay.do("GET", "/web/", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("replayed cookie after logout: %d", rec.Code)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withPages()
	e.users()
	if err := api.SetPassword(context.Background(), e.d.Pool, "bj", "北京的正确密码123"); err != nil {
		t.Fatal(err)
	}
	b := e.browser("10.0.0.2")
	if rec := b.login("bj", "北京的正确密码123"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	// A new server over the same database: the session is in Postgres, not in memory.
	e.srv = api.New(api.Config{Pool: e.d.Pool, Store: e.store})
	if rec := b.do("GET", "/web/", nil); rec.Code != http.StatusOK {
		t.Fatalf("after restart: %d", rec.Code)
	}
}

func TestLockoutAndRateLimit(t *testing.T) {
	// Not parallel: the rate limit is judged on how quickly attempts follow each
	// other, which a busy machine stretches.
	e := newEnv(t)
	e.withPages()
	e.users()
	ctx := context.Background()
	if err := api.SetPassword(ctx, e.d.Pool, "tj", "天津的正确密码456"); err != nil {
		t.Fatal(err)
	}
	// Five wrong passwords in a row from one address lock that address out
	// of the account, with the answer any wrong password gets.
	b := e.browser("10.1.0.1")
	var answers []string
	for i := range 5 {
		rec := b.login("tj", "guess number "+string(rune('1'+i)))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
		answers = append(answers, loginMessage(rec.Body.String()))
	}
	if rec := b.login("tj", "天津的正确密码456"); rec.Code != http.StatusUnauthorized || loginMessage(rec.Body.String()) != answers[0] {
		t.Fatalf("right password from the locked address: %d %q", rec.Code, loginMessage(rec.Body.String()))
	}
	// The ministry's reset lifts the lockout.
	want(t, e.do("PUT", "/api/v1/users/tj/password", e.adminToken, `{"password":"短"}`), http.StatusUnprocessableEntity, "password")
	want(t, e.do("PUT", "/api/v1/users/tj/password", e.adminToken, `{"password":"重置后的新密码789"}`), http.StatusOK, "")
	e.wantPasswordSet("tj", "admin", true)
	if rec := b.login("tj", "重置后的新密码789"); rec.Code != http.StatusSeeOther {
		t.Fatalf("after reset: %d", rec.Code)
	}

	// One address may not try more than the burst, whatever the accounts.
	b = e.browser("10.2.0.1")
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		limited = b.login("nobody"+string(rune('a'+i)), "whatever password").Code == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("15 quick attempts from one address were not limited")
	}
	if rec := e.browser("10.2.0.2").login("tj", "重置后的新密码789"); rec.Code != http.StatusSeeOther {
		t.Fatalf("another address is not limited: %d", rec.Code)
	}
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withPages()
	e.users()
	ctx := context.Background()
	if err := api.SetPassword(ctx, e.d.Pool, "audit", "审计员的旧密码0001"); err != nil {
		t.Fatal(err)
	}
	b, other := e.browser("10.3.0.1"), e.browser("10.3.0.2")
	for _, x := range []*browser{b, other} {
		if rec := x.login("audit", "审计员的旧密码0001"); rec.Code != http.StatusSeeOther {
			t.Fatalf("login: %d", rec.Code)
		}
	}
	token := b.csrf("/account/password")
	change := func(current, next, confirm string) *httptest.ResponseRecorder {
		return b.do("POST", "/account/password", url.Values{"csrf_token": {token}, "current_password": {current},
			"new_password": {next}, "confirm_password": {confirm}})
	}
	if rec := change("wrong", "审计员的新密码0002", "审计员的新密码0002"); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "当前密码不正确") {
		t.Fatalf("wrong current: %d", rec.Code)
	}
	if rec := change("审计员的旧密码0001", "审计员的新密码0002", "不一样"); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "不一致") {
		t.Fatalf("mismatch: %d", rec.Code)
	}
	if rec := change("审计员的旧密码0001", "短", "短"); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "至少10位") {
		t.Fatalf("short: %d", rec.Code)
	}
	if rec := change("审计员的旧密码0001", "审计员的新密码0002", "审计员的新密码0002"); rec.Code != http.StatusSeeOther {
		t.Fatalf("change: %d %s", rec.Code, rec.Body.String())
	}
	if rec := b.do("GET", "/web/", nil); rec.Code != http.StatusOK {
		t.Fatalf("this browser stays logged in: %d", rec.Code)
	}
	e.wantPasswordSet("audit", "audit", false)
	if rec := other.do("GET", "/web/", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("the other browser is logged out: %d", rec.Code)
	}
	if rec := e.browser("10.3.0.3").login("audit", "审计员的旧密码0001"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("old password: %d", rec.Code)
	}
}

// wantPasswordSet checks that the log records the last password change of
// user, by actor, and holds no trace of the password or its hash.
func (e *env) wantPasswordSet(user, actor string, reset bool) {
	e.t.Helper()
	evs, err := e.store.ReadStream(context.Background(), identity.UserStream(user), events.ReadOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	// The revocations of the user's tokens the change caused may follow it.
	last := evs[len(evs)-1]
	for i := len(evs) - 1; i > 0 && last.Type == identity.TypeTokenRevoked; i-- {
		last = evs[i-1]
	}
	var got identity.PasswordSet
	if err := json.Unmarshal(last.Data, &got); err != nil || last.Type != identity.TypePasswordSet ||
		got != (identity.PasswordSet{UserID: user, Reset: reset}) || last.Metadata.ActorID != actor {
		e.t.Fatalf("last event of %s: %s %s by %s (%v)", user, last.Type, last.Data, last.Metadata.ActorID, err)
	}
	if strings.Contains(string(last.Data), "argon2") || strings.Contains(string(last.Data), "密码") {
		e.t.Fatalf("the log holds a credential: %s", last.Data)
	}
}

// An expert's dashboard lists only the batches that assigned them something.
func TestExpertDashboardListsAssignedBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	newMatrixFixture(e) // b1 assigns e1
	e.openSelectionBatch("b2", "2.1", "YZYX")
	e.register(`{"user_id":"e1","name":"专家甲","role":"expert","organisation":"某大学"}`)
	e.register(`{"user_id":"e9","name":"专家丙","role":"expert","organisation":"某学院"}`)
	e.project()
	if _, err := projections.Rebuild(context.Background(), e.d.Pool, e.store, projections.SelectionBatches{}, nil); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]bool{"e1": true, "e9": false} {
		if err := api.SetPassword(context.Background(), e.d.Pool, user, "足够长的测试密码0001"); err != nil {
			t.Fatal(err)
		}
		b := e.browser("10.8.0." + user[1:])
		if rec := b.login(user, "足够长的测试密码0001"); rec.Code != http.StatusSeeOther {
			t.Fatalf("login %s: %d", user, rec.Code)
		}
		home := b.do("GET", "/web/", nil).Body.String()
		// Match the batch's link, not a bare "b2", which a random CSRF token or CSP nonce on the page can contain.
		lists2 := strings.Contains(home, "/web/selection-batches/b2/") || strings.Contains(home, "<td>b2</td>")
		if got := strings.Contains(home, "/web/selection-batches/b1/review"); got != want || lists2 {
			t.Fatalf("%s's dashboard lists b1: %v, want %v; lists b2: %v", user, got, want, lists2)
		}
	}
}
