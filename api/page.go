package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/selection"
)

// The web pages: server-rendered, in Simplified Chinese, for people with a
// session. Every page is one template of page_templates plus the shared layout;
// every form posts to a page route whose handler sends the same command as the
// JSON API and whose policy the route table declares like any other.

//go:embed page_templates/*.html
var pageFS embed.FS

var pageFuncs = template.FuncMap{
	"bj": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(shanghai).Format("2006-01-02 15:04")
	},
	"bjp": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(shanghai).Format("2006-01-02 15:04")
	},
	"wan":      func(y intent.Yuan) string { return y.Wan() },
	"province": publicProvince,
	"sources":  func() []intent.Source { return intent.Sources },
	"fund":     func(f intent.Funds, s intent.Source) string { return f.Get(s).Wan() },
	"inc":      func(i int) int { return i + 1 },
	"statusLabel": func(s intent.Status) string {
		return map[intent.Status]string{intent.StatusNone: "未填报", intent.StatusDraft: "草稿", intent.StatusSubmitted: "已提交",
			intent.StatusReturned: "已退回"}[s]
	},
	"stageLabel": func(s intent.Stage) string {
		return map[intent.Stage]string{intent.StageOpen: "填报中", intent.StageClosed: "已截止", intent.StageFiled: "已汇总备案"}[s]
	},
	"field":     func(errs map[string]string, name string) string { return errs[name] },
	"stageName": stageName,
	"appStatus": func(st selection.ApplicationStatus) string {
		return map[selection.ApplicationStatus]string{selection.StatusDraft: "草稿", selection.StatusSubmitted: "已提交",
			selection.StatusReturned: "退回补正"}[st]
	},
	"outcomeName": outcomeName,
	"roleLabel": func(r string) string {
		if l := identity.Role(r).Label(); l != "" {
			return l
		}
		return r
	},
}

// pages maps a page's file name to its template set (layout + page).
var pages = func() map[string]*template.Template {
	names, err := fs.Glob(pageFS, "page_templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		out[base] = template.Must(template.New(base).Funcs(pageFuncs).ParseFS(pageFS, "page_templates/layout.html", n))
	}
	return out
}()

// pageData is what every page template gets.
type pageData struct {
	Title  string
	User   identity.Principal
	CSRF   string
	Flash  string            // what the last action did
	Error  string            // why the last action was refused, not tied to a field
	Errors map[string]string // field → message
	Form   url.Values        // what the user typed, shown again after a refusal
	Data   any
	// Print shows a print button and marks the page as one people print.
	Print bool
	Nonce string // the CSP nonce of the request's inline scripts and styles
}

// render writes page with status; the layout adds the navigation for the
// request's user. A template error is the server's fault and is returned
// before anything is written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, d pageData) error {
	t, ok := pages[page]
	if !ok {
		return errors.New("no page template " + page)
	}
	d.User, d.Nonce = principal(r.Context()), nonceOf(r.Context())
	if sess := sessionOf(r.Context()); sess != nil {
		d.CSRF = sess.csrf
	}
	if d.Flash == "" {
		d.Flash = flashOf(r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// failPage answers a page route's error: a redirect to the login page when
// nobody is logged in, otherwise an error page with the same message and
// status as the API would give.
func (s *Server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	body, status := s.explain(r, err)
	if status == http.StatusUnauthorized && safeMethod(r.Method) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	msg := body.Error
	if body.Field != "" && status == http.StatusUnprocessableEntity {
		msg += "（" + body.Field + "）"
	}
	if rerr := s.render(w, r, status, "error.html", pageData{Title: "无法完成操作", Error: msg}); rerr != nil {
		s.log.ErrorContext(r.Context(), "render error page", "err", rerr)
		http.Error(w, msg, status)
	}
}

// redirectOK sends the browser to target with a message saying what was done
// (post/redirect/get, so a reload does not repeat the command). The message
// travels with a MAC keyed by the session's CSRF token, which only the server
// and that session know: a link that puts other text in ?ok= shows nothing.
func redirectOK(w http.ResponseWriter, r *http.Request, target, msg string) error {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	q := url.Values{flashField: {msg}}
	if sess := sessionOf(r.Context()); sess != nil {
		q.Set(flashMACField, flashMAC(sess.csrf, msg))
	}
	http.Redirect(w, r, target+sep+q.Encode(), http.StatusSeeOther)
	return nil
}

// The query fields of a status message, and the one message shown without a
// session: the login page after logging out.
const (
	flashField     = "ok"
	flashMACField  = "okmac"
	flashLoggedOut = "logged-out"
)

func flashMAC(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("keytask flash\x00" + msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// flashOf is the status message the request's URL carries, if the server
// wrote it for this session.
func flashOf(r *http.Request) string {
	q := r.URL.Query()
	msg := q.Get(flashField)
	if msg == flashLoggedOut {
		return "已退出登录"
	}
	sess := sessionOf(r.Context())
	if msg == "" || sess == nil || !hmac.Equal([]byte(q.Get(flashMACField)), []byte(flashMAC(sess.csrf, msg))) {
		return ""
	}
	return msg
}

// fieldErrors turns a command's refusal into messages by field for the form to
// show beside its controls; ok is false for any other error.
func fieldErrors(err error) (map[string]string, bool) {
	var (
		fe *domain.FieldError
		ce *domain.ConflictError
	)
	switch {
	case errors.As(err, &fe):
		return map[string]string{fe.Field: fe.Message}, true
	case errors.As(err, &ce):
		return map[string]string{ce.Field: ce.Message}, true
	}
	return nil, false
}

// localTarget returns next if it is a path on this site, else "/web/". It is
// parsed as a URL, not matched as text: browsers drop tabs and newlines and
// read a backslash as a slash, so "/\t/evil.example" would leave the site.
func localTarget(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.ContainsAny(next, "\\\t\r\n") {
		return "/web/"
	}
	local := url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return local.RequestURI()
}

// awaitReadModel waits, briefly, until caught reports that the read models show
// a command's effect, so that the page a browser is sent to after a command
// shows it. If the projector lags longer, the page shows the older state and
// the message still says what was done; a reload shows the rest.
func (s *Server) awaitReadModel(r *http.Request, caught func() bool) {
	deadline := time.Now().Add(readModelWait)
	for !caught() && time.Now().Before(deadline) && r.Context().Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
}

// readModelWait bounds awaitReadModel; the projector normally follows within
// a fraction of a second.
const readModelWait = 5 * time.Second
