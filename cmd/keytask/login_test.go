package main_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// pageLogin logs into the pages at base as a browser would (the login form,
// its CSRF token, the session cookie) and returns the page it lands on and its status.
func pageLogin(t *testing.T, base, user, password string) (string, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /login: %d", resp.StatusCode)
	}
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("the login form carries no CSRF token:\n%s", form)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"csrf_token": {string(m[1])}, "user_id": {user}, "password": {password}, "next": {"/web/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL.Path, resp.StatusCode
}

// bannerPassword finds the first password dev prints, and the page it names.
func bannerPassword(t *testing.T, banner string) (loginURL, password string) {
	t.Helper()
	m := regexp.MustCompile(`Log in to the pages at (\S+) as user admin with password (\S+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("dev printed no way into the pages:\n%s", banner)
	}
	return m[1], strings.TrimSpace(m[2])
}
