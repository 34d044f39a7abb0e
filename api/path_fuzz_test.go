package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"keytask/projections"
)

var pathWildcard = regexp.MustCompile(`\{[^}]+\}`)

// FuzzPathSegment puts any bytes, percent-encoded, in the place of each
// wildcard of every GET route and asks as the administrator. No answer is a
// 500; a segment that is not NUL-free UTF-8 is refused with 400 before any
// handler reads it.
func FuzzPathSegment(f *testing.F) {
	for _, s := range []string{"s1", "\x00", "\xff", "a\x00b", "\xc3\x28", "申报", "..", "%", " ", "a/b", ""} {
		f.Add(s)
	}
	s := fuzzServer(f)
	ctx := context.Background()
	token, _, err := SeedAdmin(ctx, s.store, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, s.pool, s.store, projections.Users{}, nil); err != nil {
		f.Fatal(err)
	}
	var patterns []string
	for _, rt := range s.Routes() {
		if method, pattern, _ := strings.Cut(rt.Pattern, " "); method == http.MethodGet && pathWildcard.MatchString(pattern) {
			patterns = append(patterns, pattern)
		}
	}
	f.Fuzz(func(t *testing.T, segment string) {
		var enc strings.Builder
		for i := 0; i < len(segment); i++ {
			fmt.Fprintf(&enc, "%%%02X", segment[i])
		}
		undecodable := !utf8.ValidString(segment) || strings.ContainsRune(segment, 0)
		for _, p := range patterns {
			path := pathWildcard.ReplaceAllLiteralString(p, enc.String())
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
			}
			if undecodable && w.Code != http.StatusBadRequest {
				t.Fatalf("GET %s: %d, want 400", path, w.Code)
			}
		}
	})
}
