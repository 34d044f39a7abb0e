package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"
)

// hstsMaxAge is a year: the platform is only ever reached over TLS once a
// browser has seen it so.
const hstsMaxAge = "max-age=31536000"

type nonceKey struct{}

// nonceOf is the request's CSP nonce, which every inline script and style
// of a page carries.
func nonceOf(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// securityHeaders gives every answer, pages, public pages and API alike, a
// Content-Security-Policy whose scripts and styles must carry this request's
// nonce, forbids framing and MIME sniffing, and asks browsers to keep to TLS
// when the request came over it (or through a TLS proxy, see
// Config.SecureCookies). A path that does not decode to valid UTF-8 without
// NUL names no resource: it is answered 400 before any handler sees it.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			panic("crypto/rand: " + err.Error()) // no entropy: nothing is safe
		}
		nonce := base64.RawURLEncoding.EncodeToString(b) // no + or /, which templates would escape
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'nonce-"+nonce+"'; style-src 'self' 'nonce-"+nonce+
			"'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		if r.TLS != nil || s.secureCookies {
			h.Set("Strict-Transport-Security", hstsMaxAge)
		}
		if !decodablePath(r.URL.Path) {
			s.fail(w, r, badRequest("path", "地址中含有无效字符", "path is not NUL-free UTF-8"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

// decodablePath reports whether a decoded request path is text a route can
// name: valid UTF-8 without NUL.
func decodablePath(p string) bool {
	return utf8.ValidString(p) && !strings.ContainsRune(p, 0)
}
