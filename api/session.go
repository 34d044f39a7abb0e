package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"

	"keytask/domain/identity"
	"keytask/projections"
)

// Browser sessions. A browser logs in with a password and from then on carries
// a session cookie; API clients keep sending bearer tokens. A request with an
// Authorization header is never treated as a session, so a token cannot be
// combined with a cookie to skip the CSRF check.
const (
	sessionCookie    = "keytask_session"
	loginCSRFCookie  = "keytask_login_csrf"
	csrfField        = "csrf_token"
	csrfHeader       = "X-CSRF-Token"
	sessionLifetime  = 8 * time.Hour // a working day; then log in again
	loginFormMaxSize = 4 << 10
)

// webSession is the session a request came with.
type webSession struct {
	idHash string
	csrf   string
}

const sessionKey ctxKey = 100 // beside context.go's keys, far from their iota

func withSession(ctx context.Context, s *webSession) context.Context {
	return context.WithValue(ctx, sessionKey, s)
}

// sessionOf is the request's session, nil for a bearer-token request.
func sessionOf(ctx context.Context) *webSession {
	s, _ := ctx.Value(sessionKey).(*webSession)
	return s
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the platform has no entropy: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authenticateAny returns the principal of a bearer token or, without an
// Authorization header, of a session cookie.
func (s *Server) authenticateAny(r *http.Request) (identity.Principal, *webSession, error) {
	if r.Header.Get("Authorization") != "" {
		p, err := s.authenticate(r)
		return p, nil, err
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		p, err := s.authenticate(r) // says how to authenticate
		return p, nil, err
	}
	idHash := identity.HashToken(c.Value)
	var (
		sess   = webSession{idHash: idHash}
		userID string
	)
	err = s.pool.QueryRow(r.Context(), `SELECT user_id, csrf_token FROM sessions WHERE id_hash = $1 AND expires_at > now()`, idHash).
		Scan(&userID, &sess.csrf)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.Principal{}, nil, &httpError{status: http.StatusUnauthorized, field: "session",
			message: "登录已过期，请重新登录", detail: "unknown or expired session"}
	}
	if err != nil {
		return identity.Principal{}, nil, fmt.Errorf("look up session: %w", err)
	}
	u, err := projections.GetUser(r.Context(), s.pool, userID)
	if err != nil {
		return identity.Principal{}, nil, fmt.Errorf("session user: %w", err)
	}
	return u.Principal, &sess, nil
}

// safeMethod: requests that change nothing and need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF refuses a state-changing session request without the session's
// synchronizer token in the form field csrf_token or the X-CSRF-Token header.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request, sess *webSession) error {
	if safeMethod(r.Method) {
		return nil
	}
	got := r.Header.Get(csrfHeader)
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// An upload form: read it whole, but no larger than an attachment may be.
		r.Body = http.MaxBytesReader(w, r.Body, s.files.MaxSize()+64<<10)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return &httpError{status: http.StatusRequestEntityTooLarge, field: "file", message: "上传的文件过大",
					detail: "multipart form over the limit"}
			}
			return badRequest("", "无法读取表单", "multipart form: "+err.Error())
		}
	}
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) != 1 {
		return &httpError{status: http.StatusForbidden, code: codeCSRF, field: csrfField,
			message: "页面已过期或来源不明，请刷新页面后重新提交", detail: "missing or wrong CSRF token"}
	}
	return formNUL(r)
}

// formNUL refuses a posted form with a value holding NUL, for the reason
// nulText gives for JSON bodies. A form not parsed yet is parsed here.
func formNUL(r *http.Request) error {
	if r.PostForm == nil {
		if err := r.ParseForm(); err != nil {
			return badRequest("", "无法读取表单", "form: "+err.Error())
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.PostForm)) {
		if strings.ContainsRune(k, 0) || slices.ContainsFunc(r.PostForm[k], func(v string) bool { return strings.ContainsRune(v, 0) }) {
			return badRequest(k, fmt.Sprintf("表单项 %s 含有无效字符", k), "form: NUL in "+k)
		}
	}
	return nil
}

// startSession records a new session for userID and sets its cookie; it
// returns r carrying the new session. Every login gets a new id, so a session
// id planted before login is worthless.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, userID string) (*http.Request, error) {
	id := randomToken()
	ctx := r.Context()
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= now()`); err != nil {
		return r, fmt.Errorf("expire sessions: %w", err)
	}
	sess := &webSession{idHash: identity.HashToken(id), csrf: randomToken()}
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.idHash, userID, sess.csrf, time.Now().Add(sessionLifetime)); err != nil {
		return r, fmt.Errorf("start session: %w", err)
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, id, sessionLifetime))
	return r.WithContext(withSession(ctx, sess)), nil
}

// endSession forgets the request's session and clears its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if sess := sessionOf(r.Context()); sess != nil {
		if _, err := s.pool.Exec(r.Context(), `DELETE FROM sessions WHERE id_hash = $1`, sess.idHash); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	return nil
}

// cookie is one of keytask's cookies: never readable by scripts, not sent on
// cross-site subrequests or posts, and Secure when the connection is TLS (or the
// server is configured to sit behind a TLS proxy).
func (s *Server) cookie(r *http.Request, name, value string, lifetime time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || s.secureCookies}
	if lifetime < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(lifetime / time.Second)
	}
	return c
}

// loginLimiter bounds login attempts per client address: the lockout protects
// one account from guessing, this protects all accounts from one guesser.
type loginLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	clients map[string]*clientLimit
}

type clientLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

// Default login rate: a burst of 10, then one attempt every 6 seconds.
const (
	loginBurst    = 10
	loginInterval = 6 * time.Second
)

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{every: rate.Every(loginInterval), burst: loginBurst, clients: map[string]*clientLimit{}}
}

// allow reports whether the client of r may try to log in now.
// clientAddress is the host of the request's peer: the unit both the login
// rate limit and the lockout's per-address part count by.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (l *loginLimiter) allow(r *http.Request) bool {
	host := clientAddress(r)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.clients) > 10_000 { // forget clients that have been quiet long enough to be full again
		for k, c := range l.clients {
			if now.Sub(c.seen) > time.Duration(l.burst)*loginInterval {
				delete(l.clients, k)
			}
		}
	}
	c, ok := l.clients[host]
	if !ok {
		c = &clientLimit{lim: rate.NewLimiter(l.every, l.burst)}
		l.clients[host] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}
