package api

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/events"
	"keytask/projections"
)

// ownCredential is the caller's own password and sessions.
func ownCredential(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: policy.KindCredential, ID: p.UserID, Subject: p.UserID}, nil
}

// userAccount is the account a reset names; an administrator's is marked so.
func userAccount(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	user := r.PathValue("user")
	return policy.Resource{Kind: policy.KindUser, ID: user, Administrator: identity.IsAdministrator(user)}, nil
}

// webRoutes are the login and the pages.
func (s *Server) webRoutes() []Route {
	routes := []Route{
		{Pattern: "GET /login", Public: true, page: true, handle: s.loginPage},
		{Pattern: "POST /login", Public: true, page: true, handle: s.login},
		{Pattern: "POST /logout", Action: policy.ActionWrite, Resource: ownCredential, page: true, handle: s.logout},
		{Pattern: "GET /account/password", Action: policy.ActionRead, Resource: ownCredential, page: true, handle: s.passwordPage},
		{Pattern: "POST /account/password", Action: policy.ActionWrite, Resource: ownCredential, page: true, handle: s.changePassword},
		{Pattern: "PUT /api/v1/users/{user}/password", Action: policy.ActionAdminister, Resource: userAccount, handle: s.resetPassword, Request: resetPasswordBody{}},
	}
	return append(routes, s.pageRoutes()...)
}

// loginRefused is the one answer to a refused login.
const loginRefused = "用户ID或密码错误；连续多次输入错误后须等待 15 分钟再试"

type loginForm struct {
	Next   string
	UserID string
}

// loginPage shows the login form. The form carries a double-submit CSRF token
// (the same random value in a cookie and a hidden field), since there is no
// session yet to keep a token in.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderLogin(w, r, http.StatusOK, loginForm{Next: localTarget(r.URL.Query().Get("next"))}, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, f loginForm, msg string) error {
	token := randomToken()
	http.SetCookie(w, s.cookie(r, loginCSRFCookie, token, time.Hour))
	return s.render(w, r, status, "login.html", pageData{Title: "登录", CSRF: token, Error: msg, Data: f})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, loginFormMaxSize)
	f := loginForm{Next: localTarget(r.PostFormValue("next")), UserID: strings.TrimSpace(r.PostFormValue("user_id"))}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		return s.renderLogin(w, r, http.StatusForbidden, f, "登录页面已过期，请重新输入后登录")
	}
	if !s.logins.allow(r) {
		s.log.WarnContext(r.Context(), "login rate limited", "remote", r.RemoteAddr, "user_id", f.UserID)
		return s.renderLogin(w, r, http.StatusTooManyRequests, f, "登录尝试过于频繁，请稍后再试")
	}
	password := r.PostFormValue("password")
	if f.UserID == "" || password == "" {
		return s.renderLogin(w, r, http.StatusUnprocessableEntity, f, "请输入用户ID和密码")
	}
	err = verifyLogin(r.Context(), s.pool, f.UserID, password, clientAddress(r))
	// One answer for an unknown id, a wrong password and a lockout, so that
	// the page tells nobody which ids exist or which are locked.
	var locked errLocked
	switch {
	case errors.As(err, &locked):
		s.log.WarnContext(r.Context(), "login to locked account", "user_id", f.UserID, "remote", r.RemoteAddr)
		return s.renderLogin(w, r, http.StatusUnauthorized, f, loginRefused)
	case errors.Is(err, errBadLogin):
		s.log.InfoContext(r.Context(), "login failed", "user_id", f.UserID, "remote", r.RemoteAddr)
		return s.renderLogin(w, r, http.StatusUnauthorized, f, loginRefused)
	case err != nil:
		return err
	}
	if _, err := projections.GetUser(r.Context(), s.pool, f.UserID); err != nil {
		return err // credentials without an account: a bug or a restore out of step
	}
	if _, err := s.startSession(w, r, f.UserID); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, loginCSRFCookie, "", -1))
	s.log.InfoContext(r.Context(), "login", "user_id", f.UserID)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.endSession(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/login?"+flashField+"="+flashLoggedOut, http.StatusSeeOther)
	return nil
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "password.html", pageData{Title: "修改密码"})
}

// changePassword changes the caller's own password after checking the current
// one; every session of theirs ends, and this browser gets a new one.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	bad := func(status int, field, msg string) error {
		return s.render(w, r, status, "password.html", pageData{Title: "修改密码", Errors: map[string]string{field: msg}})
	}
	current, next := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	if err := verifyLogin(r.Context(), s.pool, p.UserID, current, clientAddress(r)); err != nil {
		var locked errLocked
		switch {
		case errors.As(err, &locked):
			return bad(http.StatusForbidden, "current_password", "连续多次密码错误，账户已暂时锁定")
		case errors.Is(err, errBadLogin):
			return bad(http.StatusUnprocessableEntity, "current_password", "当前密码不正确")
		}
		return err
	}
	if next != r.PostFormValue("confirm_password") {
		return bad(http.StatusUnprocessableEntity, "confirm_password", "两次输入的新密码不一致")
	}
	if err := validatePassword("new_password", next); err != nil {
		errs, _ := fieldErrors(err)
		return s.render(w, r, http.StatusUnprocessableEntity, "password.html", pageData{Title: "修改密码", Errors: errs})
	}
	if err := s.setPassword(r, p.UserID, next, false); err != nil {
		return err
	}
	r, err := s.startSession(w, r, p.UserID)
	if err != nil {
		return err
	}
	return redirectOK(w, r, "/web/", "密码已修改")
}

// resetPassword lets the ministry set a user's password: the first one, or a
// new one when a user has forgotten theirs. Body: {"password": "..."}.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	var req resetPasswordBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	userID := r.PathValue("user")
	if err := s.setPassword(r, userID, req.Password, true); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "password set", "user_id", userID, "by", principal(r.Context()).UserID)
	writeJSON(w, http.StatusOK, map[string]any{"user_id": userID, "password_set": true})
	return nil
}

// setPassword records on the user's stream that their password is set, then
// sets it (SetPassword): the log never misses a change of credentials, though
// it never holds one.
func (s *Server) setPassword(r *http.Request, userID, password string, reset bool) error {
	if err := validatePassword("password", password); err != nil {
		return err
	}
	if err := identity.ValidateUserID(userID); err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	stream := identity.UserStream(userID)
	v, err := s.store.StreamVersion(ctx, stream)
	if err != nil {
		return err
	}
	if v == 0 {
		return domain.Invalid("user_id", "用户不存在", "no user "+userID)
	}
	e := identity.PasswordSet{UserID: userID, Reset: reset}
	id := events.DeriveID("password-set", userID, meta.RequestID)
	if err := appendUserEvents(ctx, s.store, stream, events.AnyVersion, func(string) uuid.UUID { return id }, meta, []identity.Event{e}); err != nil {
		return err
	}
	if err := SetPassword(ctx, s.pool, userID, password); err != nil {
		return err
	}
	return recordPasswordRevocations(ctx, s.store, meta, userID)
}

// resetPasswordBody is the body resetPassword decodes.
type resetPasswordBody struct {
	Password string `json:"password"`
}
