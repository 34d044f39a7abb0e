package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"keytask/api"
)

// A login link whose next is made to leave the site (a tab the browser drops,
// a backslash it reads as a slash, an absolute URL) lands on /web/.
func TestLoginNextStaysOnSite(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	e.users()
	if err := api.SetPassword(context.Background(), e.d.Pool, "bj", "北京的正确密码123"); err != nil {
		t.Fatal(err)
	}
	for _, next := range []string{"/\t/evil.example/x", "/\n/evil.example", "/\\evil.example", "//evil.example", "https://evil.example/",
		" //evil.example", "\t//evil.example", "javascript:alert(1)"} {
		b := e.browser("10.1.0.1")
		if page := b.do("GET", "/login?next="+url.QueryEscape(next), nil).Body.String(); strings.Contains(page, "evil.example") {
			t.Errorf("login page for next %q keeps it: %s", next, page)
		}
		token := b.csrf("/login")
		rec := b.do("POST", "/login", url.Values{"csrf_token": {token}, "user_id": {"bj"}, "password": {"北京的正确密码123"}, "next": {next}})
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || loc != "/web/" {
			t.Errorf("next %q: %d to %q, want /web/", next, rec.Code, loc)
		}
	}
	b := e.browser("10.1.0.2")
	token := b.csrf("/login")
	rec := b.do("POST", "/login", url.Values{"csrf_token": {token}, "user_id": {"bj"}, "password": {"北京的正确密码123"}, "next": {"/web/inbox?unread=true"}})
	if loc := rec.Header().Get("Location"); loc != "/web/inbox?unread=true" {
		t.Errorf("an on-site next became %q", loc)
	}
}

var (
	nonceAttr = regexp.MustCompile(`<(script|style)\b([^>]*)>`)
	cspNonce  = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`)
)

// Every page, public ones included, forbids inline code but its own (by a
// fresh nonce), framing and MIME sniffing.
func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	sb := e.selectionThroughNotice()
	e.publish(sb)
	e.projectSelection()
	b := e.loggedIn("bj", "10.1.0.3")
	seen := map[string]bool{}
	for _, path := range []string{"/login", "/public/publications/" + sb.batch, "/public/notices/none", "/web/", "/web/inbox",
		"/web/intent-rounds/r1/provinces/11", "/healthz", "/api/v1/me"} {
		rec := b.do("GET", path, nil)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		m := cspNonce.FindStringSubmatch(csp)
		if m == nil || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
			continue
		}
		if seen[m[1]] {
			t.Errorf("%s: nonce %s used before", path, m[1])
		}
		seen[m[1]] = true
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Frame-Options %q, X-Content-Type-Options %q", path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP without a TLS proxy", path)
		}
		body := rec.Body.String()
		for _, tag := range nonceAttr.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(tag[2], `nonce="`+m[1]+`"`) {
				t.Errorf("%s: <%s%s> without the page's nonce", path, tag[1], tag[2])
			}
		}
		if regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s: an inline event handler, which the policy blocks", path)
		}
	}

	// Behind a TLS proxy: the session cookie is Secure and HSTS is sent.
	e.srv = api.New(api.Config{Pool: e.d.Pool, Store: e.store, SecureCookies: true})
	tls := e.browser("10.1.0.4")
	rec := tls.login("bj", "足够长的测试密码0001")
	secure := false
	for _, c := range rec.Result().Cookies() {
		secure = secure || (c.Name == "keytask_session" && c.Secure)
	}
	if !secure || !strings.HasPrefix(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("behind a TLS proxy: Secure session cookie %v, HSTS %q", secure, rec.Header().Get("Strict-Transport-Security"))
	}
}

// ?ok= shows only a message the server wrote for this session: a link with
// other text shows nothing.
func TestStatusMessageFromTheServer(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	e.users()
	b := e.loggedIn("bj", "10.1.0.5")
	forged := "账户异常，请致电 010-12345678 核实"
	for _, q := range []string{"ok=" + url.QueryEscape(forged), "ok=" + url.QueryEscape(forged) + "&okmac=AAAAAAAAAAAAAAAAAAAAAA"} {
		if body := b.do("GET", "/web/?"+q, nil).Body.String(); strings.Contains(body, "010-12345678") {
			t.Errorf("?%s is shown", q)
		}
	}
	token := b.csrf("/account/password")
	rec := b.do("POST", "/account/password", url.Values{"csrf_token": {token}, "current_password": {"足够长的测试密码0001"},
		"new_password": {"北京的新密码4567"}, "confirm_password": {"北京的新密码4567"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", rec.Code, rec.Body.String())
	}
	if body := b.do("GET", rec.Header().Get("Location"), nil).Body.String(); !strings.Contains(body, "密码已修改") {
		t.Error("the server's own message is not shown after a password change")
	}
	// Another session cannot replay the message link into its own page.
	other := e.browser("10.1.0.6")
	if rec := other.login("bj", "北京的新密码4567"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	if body := other.do("GET", rec.Header().Get("Location"), nil).Body.String(); strings.Contains(body, "密码已修改") {
		t.Error("a message link of one session shows in another")
	}
	out := b.do("POST", "/logout", url.Values{"csrf_token": {b.csrf("/web/")}})
	if body := b.do("GET", out.Header().Get("Location"), nil).Body.String(); !strings.Contains(body, "已退出登录") {
		t.Error("the login page does not say the user logged out")
	}
}

// A path segment that is NUL or not UTF-8 names nothing: every route answers
// it 400 or 404, never 500.
func TestUndecodablePathSegments(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	for _, rt := range e.srv.Routes() {
		method, pattern, _ := strings.Cut(rt.Pattern, " ")
		if !wildcard.MatchString(pattern) {
			continue
		}
		for _, bad := range []string{"%00", "%ff", "a%00b", "%c3%28"} {
			path := wildcard.ReplaceAllString(pattern, bad)
			for _, token := range []string{"", e.adminToken} {
				res := e.do(method, path, token, "")
				if res.Code != http.StatusBadRequest && res.Code != http.StatusNotFound {
					t.Errorf("%s %s: %d, want 400 or 404", method, path, res.Code)
				}
			}
		}
	}
}

// Production serves /metrics on an internal address: the public handler does
// not answer it.
func TestMetricsOffThePublicPort(t *testing.T) {
	e := newEnv(t)
	srv := api.New(api.Config{Pool: e.d.Pool, Store: e.store, Registry: prometheus.NewRegistry(), MetricsElsewhere: true})
	for _, rt := range srv.Routes() {
		if rt.Path() == "/metrics" {
			t.Fatal("/metrics is a route of the public handler")
		}
	}
	if res := e.do("GET", "/metrics", "", ""); res.Code != http.StatusOK {
		t.Fatalf("dev's handler: /metrics %d", res.Code)
	}
}

var alertText = regexp.MustCompile(`<p class="alert" role="alert">([^<]*)</p>`)

// loginMessage is the refusal the login page shows.
func loginMessage(page string) string {
	if m := alertText.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// A guesser learns nothing from the answers (an unknown id, a wrong password
// and a lockout read the same) and cannot lock an account from one address:
// its owner, elsewhere, still logs in.
func TestLockoutAnswersAlikeAndHoldsPerAddress(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	e.users()
	if err := api.SetPassword(context.Background(), e.d.Pool, "tj", "天津的正确密码456"); err != nil {
		t.Fatal(err)
	}
	attacker := e.browser("10.3.0.1")
	var known, unknown []string
	for i := range 5 { // the address's burst, across both ids
		for _, c := range []struct {
			user string
			into *[]string
		}{{"tj", &known}, {"no-such-user", &unknown}} {
			rec := attacker.login(c.user, "guess number "+string(rune('a'+i)))
			*c.into = append(*c.into, fmt.Sprintf("%d %s", rec.Code, loginMessage(rec.Body.String())))
		}
	}
	if !slices.Equal(known, unknown) {
		t.Errorf("an existing id is told apart from an unknown one:\n%v\n%v", known, unknown)
	}
	if rec := e.browser("10.3.0.2").login("tj", "天津的正确密码456"); rec.Code != http.StatusSeeOther {
		t.Fatalf("the owner, from another address, after one address's guesses: %d %s", rec.Code, loginMessage(rec.Body.String()))
	}
	// A guesser whose five wrong passwords locked its address out is refused
	// the right one too, in the same words.
	guesser := e.browser("10.3.0.3")
	for i := range 5 {
		guesser.login("tj", "another guess "+string(rune('a'+i)))
	}
	if rec := guesser.login("tj", "天津的正确密码456"); rec.Code != http.StatusUnauthorized || fmt.Sprintf("%d %s", rec.Code, loginMessage(rec.Body.String())) != known[0] {
		t.Fatalf("the locked-out address with the right password: %d %s", rec.Code, loginMessage(rec.Body.String()))
	}
}

// The most common passwords are refused wherever a password is set.
func TestCommonPasswordsRefused(t *testing.T) {
	e := newEnv(t)
	e.users()
	for _, pw := range []string{"1111111111", "1234567890", "0987654321", "password123", "Password123", "qwertyuiop", "abcdefghijk",
		"aaaaaaaaaaaa", "1q2w3e4r5t", "administrator", "woaini1314"} {
		want(t, e.do("PUT", "/api/v1/users/bj/password", e.adminToken, `{"password":"`+pw+`"}`), http.StatusUnprocessableEntity, "password")
		if err := api.SetPassword(context.Background(), e.d.Pool, "bj", pw); err == nil {
			t.Errorf("SetPassword took %q", pw)
		}
	}
	want(t, e.do("PUT", "/api/v1/users/bj/password", e.adminToken, `{"password":"北京人社局春季登录密码"}`), http.StatusOK, "")
}

// Another ministry user cannot take over the administrator's account by
// resetting its password; the administrator still sets their own.
func TestAdministratorResetOnlyByAdministrator(t *testing.T) {
	e := newEnv(t)
	staff := e.register(`{"user_id":"m2","name":"部工作人员","role":"ministry","organisation":"MOHRSS"}`)
	e.project()
	want(t, e.do("PUT", "/api/v1/users/admin/password", staff, `{"password":"接管管理员的密码0001"}`), http.StatusForbidden, "")
	want(t, e.do("PUT", "/api/v1/users/m2/password", e.adminToken, `{"password":"部工作人员的密码0001"}`), http.StatusOK, "")
	want(t, e.do("PUT", "/api/v1/users/admin/password", e.adminToken, `{"password":"管理员自己的密码0001"}`), http.StatusOK, "")
}
