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
)

// jsonWithSession sends a JSON API request as the browser's session, with its
// CSRF token, as a script on the account's own page would.
func (b *browser) jsonWithSession(method, path, csrf, body string) response {
	b.e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	req.RemoteAddr = b.remote + ":40000"
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.srv.Handler().ServeHTTP(rec, req)
	res := response{ResponseRecorder: rec}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.json); err != nil {
		b.e.t.Fatalf("%s %s: %s", method, path, rec.Body)
	}
	return res
}

// The attack of issue 16: the ministry registered a province and was handed
// its bearer token, with which it acted as the province. Now the ministry gets
// no credential it could act with, and a token acts only for the user who
// created it, until it expires, is rotated or revoked, or the password changes.
func TestTokensAreTheirOwners(t *testing.T) {
	e := newEnv(t)
	e.withPages()
	ctx := context.Background()
	reg := e.do("POST", "/api/v1/users", e.adminToken, bjBody)
	want(t, reg, http.StatusCreated, "")
	e.register(`{"user_id":"tj","name":"天津市人社局","role":"province","organisation":"12"}`)
	e.project()

	t.Run("ErrMinistryGetsNoToken", func(t *testing.T) {
		if strings.Contains(reg.Body.String(), "token") {
			t.Fatalf("registration answered %s", reg.Body)
		}
		// Nor can it have one made for the user, or read one.
		want(t, e.do("POST", "/api/v1/tokens", e.adminToken, `{"label":"代填","user_id":"bj"}`), http.StatusBadRequest, "user_id")
		res := e.do("GET", "/api/v1/users/bj/tokens", e.adminToken, "")
		want(t, res, http.StatusOK, "")
		if toks, _ := res.json["tokens"].([]any); len(toks) != 0 {
			t.Fatalf("bj has tokens nobody asked for: %s", res.Body)
		}
		// A token the ministry makes is its own, and acts as the ministry.
		mine := e.do("POST", "/api/v1/tokens", e.adminToken, `{"label":"部的脚本"}`)
		want(t, mine, http.StatusCreated, "")
		if me := e.do("GET", "/api/v1/me", mine.str("token"), ""); me.str("user_id") != "admin" {
			t.Fatalf("the ministry's new token acts as %s", me.Body)
		}
	})

	// bj logs in with the password the ministry gave, changes it, and makes
	// a token for its own client.
	want(t, e.do("PUT", "/api/v1/users/bj/password", e.adminToken, `{"password":"部给的初始密码0001"}`), http.StatusOK, "")
	b := e.browser("10.16.0.1")
	if rec := b.login("bj", "部给的初始密码0001"); rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d", rec.Code)
	}
	csrf := b.csrf("/account/password")
	if rec := b.do("POST", "/account/password", url.Values{"csrf_token": {csrf}, "current_password": {"部给的初始密码0001"},
		"new_password": {"北京自己的密码0002"}, "confirm_password": {"北京自己的密码0002"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("change password: %d", rec.Code)
	}
	csrf = b.csrf("/account/tokens")
	created := b.jsonWithSession("POST", "/api/v1/tokens", csrf, `{"label":"省厅同步脚本","expires_in_days":30}`)
	want(t, created, http.StatusCreated, "")
	bjToken, bjTokenID := created.str("token"), created.str("token_id")

	t.Run("OwnersTokenActsAsOwner", func(t *testing.T) {
		res := e.do("GET", "/api/v1/me", bjToken, "")
		if res.Code != http.StatusOK || res.str("user_id") != "bj" {
			t.Fatalf("me: %d %s", res.Code, res.Body)
		}
		evs, err := e.store.ReadStream(ctx, identity.UserStream("bj"), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Type != identity.TypeTokenIssued || last.Metadata.ActorID != "bj" ||
			strings.Contains(string(last.Data), identity.HashToken(bjToken)) {
			t.Fatalf("last event %s %s by %s", last.Type, last.Data, last.Metadata.ActorID)
		}
	})
	t.Run("ErrSessionWithoutCSRF", func(t *testing.T) {
		want(t, b.jsonWithSession("POST", "/api/v1/tokens", "", `{"label":"x"}`), http.StatusForbidden, "csrf_token")
	})
	t.Run("ErrLifetimeBeyondMaximum", func(t *testing.T) {
		want(t, e.do("POST", "/api/v1/tokens", bjToken, `{"label":"x","expires_in_days":366}`), http.StatusUnprocessableEntity, "expires_in_days")
		want(t, e.do("POST", "/api/v1/tokens", bjToken, `{"label":" "}`), http.StatusUnprocessableEntity, "label")
	})
	t.Run("ErrOtherUserCannotRevoke", func(t *testing.T) {
		tj := e.issueToken("tj")
		want(t, e.do("DELETE", "/api/v1/tokens/"+bjTokenID, tj, ""), http.StatusNotFound, "")
		want(t, e.do("POST", "/api/v1/tokens/"+bjTokenID+"/rotate", tj, ""), http.StatusNotFound, "")
		want(t, e.do("GET", "/api/v1/users/bj/tokens", tj, ""), http.StatusForbidden, "")
		want(t, e.do("GET", "/api/v1/me", bjToken, ""), http.StatusOK, "")
	})
	t.Run("ExpiredTokenRefused", func(t *testing.T) {
		old := e.do("POST", "/api/v1/tokens", bjToken, `{"label":"将过期","expires_in_days":1}`)
		want(t, old, http.StatusCreated, "")
		want(t, e.do("GET", "/api/v1/me", old.str("token"), ""), http.StatusOK, "")
		if _, err := e.d.Owner.Exec(ctx, `UPDATE bearer_tokens SET created_at = now() - interval '2 days',
			expires_at = now() - interval '1 second' WHERE token_id = $1`, old.str("token_id")); err != nil {
			t.Fatal(err)
		}
		want(t, e.do("GET", "/api/v1/me", old.str("token"), ""), http.StatusUnauthorized, "Authorization")
	})
	t.Run("RotationReplacesTheToken", func(t *testing.T) {
		rotated := e.do("POST", "/api/v1/tokens/"+bjTokenID+"/rotate", bjToken, "")
		want(t, rotated, http.StatusCreated, "")
		want(t, e.do("GET", "/api/v1/me", bjToken, ""), http.StatusUnauthorized, "Authorization")
		want(t, e.do("GET", "/api/v1/me", rotated.str("token"), ""), http.StatusOK, "")
		if rotated.str("label") != "省厅同步脚本" {
			t.Fatalf("rotated: %s", rotated.Body)
		}
		bjToken, bjTokenID = rotated.str("token"), rotated.str("token_id")
	})
	t.Run("OwnerRevokes", func(t *testing.T) {
		spare := e.do("POST", "/api/v1/tokens", bjToken, `{"label":"备用"}`)
		want(t, e.do("DELETE", "/api/v1/tokens/"+spare.str("token_id"), bjToken, ""), http.StatusOK, "")
		want(t, e.do("GET", "/api/v1/me", spare.str("token"), ""), http.StatusUnauthorized, "Authorization")
		want(t, e.do("DELETE", "/api/v1/tokens/"+spare.str("token_id"), bjToken, ""), http.StatusOK, "") // again: no change
	})
	t.Run("MinistryRevokes", func(t *testing.T) {
		spare := e.do("POST", "/api/v1/tokens", bjToken, `{"label":"被部吊销"}`)
		want(t, e.do("DELETE", "/api/v1/users/bj/tokens/"+spare.str("token_id"), e.adminToken, ""), http.StatusOK, "")
		want(t, e.do("GET", "/api/v1/me", spare.str("token"), ""), http.StatusUnauthorized, "Authorization")
		res := e.do("GET", "/api/v1/tokens", bjToken, "")
		if !strings.Contains(res.Body.String(), "已被部吊销") || strings.Contains(res.Body.String(), spare.str("token")) {
			t.Fatalf("bj's list: %s", res.Body)
		}
		want(t, e.do("DELETE", "/api/v1/users/bj/tokens/nope", e.adminToken, ""), http.StatusNotFound, "")
	})
	t.Run("PasswordChangeRevokesEveryToken", func(t *testing.T) {
		other := e.do("POST", "/api/v1/tokens", bjToken, `{"label":"另一个"}`)
		csrf := b.csrf("/account/password")
		if rec := b.do("POST", "/account/password", url.Values{"csrf_token": {csrf}, "current_password": {"北京自己的密码0002"},
			"new_password": {"北京的第三个密码0003"}, "confirm_password": {"北京的第三个密码0003"}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("change password: %d", rec.Code)
		}
		want(t, e.do("GET", "/api/v1/me", bjToken, ""), http.StatusUnauthorized, "Authorization")
		want(t, e.do("GET", "/api/v1/me", other.str("token"), ""), http.StatusUnauthorized, "Authorization")
	})
	t.Run("PasswordResetRevokesEveryToken", func(t *testing.T) {
		tok := e.issueToken("bj")
		want(t, e.do("PUT", "/api/v1/users/bj/password", e.adminToken, `{"password":"部重置的密码0004"}`), http.StatusOK, "")
		want(t, e.do("GET", "/api/v1/me", tok, ""), http.StatusUnauthorized, "Authorization")
		// The log says which tokens the reset ended, and why.
		evs, err := e.store.ReadStream(ctx, identity.UserStream("bj"), events.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		var rev identity.TokenRevoked
		if err := json.Unmarshal(last.Data, &rev); err != nil || last.Type != identity.TypeTokenRevoked || rev.Reason != "password" ||
			last.Metadata.ActorID != "admin" {
			t.Fatalf("last event %s %s by %s", last.Type, last.Data, last.Metadata.ActorID)
		}
	})
	t.Run("FirstPasswordKeepsTheBootstrapToken", func(t *testing.T) {
		// The administrator sets their first password with the token the
		// first start printed; nothing was replaced, so nothing is revoked.
		want(t, e.do("PUT", "/api/v1/users/admin/password", e.adminToken, `{"password":"管理员自己的第一个密码"}`), http.StatusOK, "")
		want(t, e.do("GET", "/api/v1/me", e.adminToken, ""), http.StatusOK, "")
	})
	t.Run("AccountPage", func(t *testing.T) {
		if rec := b.login("bj", "部重置的密码0004"); rec.Code != http.StatusSeeOther {
			t.Fatalf("login: %d", rec.Code)
		}
		csrf := b.csrf("/account/tokens")
		rec := b.do("POST", "/account/tokens", url.Values{"csrf_token": {csrf}, "label": {"页面创建"}, "expires_in_days": {"7"}})
		m := newTokenInput.FindStringSubmatch(rec.Body.String())
		if rec.Code != http.StatusCreated || m == nil || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("create on the page: %d %q %s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
		}
		want(t, e.do("GET", "/api/v1/me", m[1], ""), http.StatusOK, "")
		list := b.do("GET", "/account/tokens", nil)
		if strings.Contains(list.Body.String(), m[1]) || !strings.Contains(list.Body.String(), "页面创建") {
			t.Fatal("the list shows the secret again, or not the token")
		}
		if rec := b.do("POST", "/account/tokens", url.Values{"csrf_token": {csrf}, "label": {""}}); rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("blank label: %d", rec.Code)
		}
		res := e.do("GET", "/api/v1/tokens", m[1], "")
		var list2 struct {
			Tokens []api.TokenInfo `json:"tokens"`
		}
		if err := json.Unmarshal(res.Body.Bytes(), &list2); err != nil || list2.Tokens[0].Label != "页面创建" {
			t.Fatalf("tokens: %s", res.Body)
		}
		rec = b.do("POST", "/account/tokens/"+list2.Tokens[0].TokenID+"/revoke", url.Values{"csrf_token": {csrf}})
		if rec.Code != http.StatusOK {
			t.Fatalf("revoke on the page: %d", rec.Code)
		}
		want(t, e.do("GET", "/api/v1/me", m[1], ""), http.StatusUnauthorized, "Authorization")
	})
}

var newTokenInput = regexp.MustCompile(`id="new_token" type="text" readonly value="([^"]+)"`)
