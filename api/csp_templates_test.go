package api

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// Every inline script and style of every page template carries the request's
// nonce, and no element has an inline event handler: the CSP (see
// securityHeaders) would block them, and the page would silently lose them.
func TestTemplatesCarryTheNonce(t *testing.T) {
	tag := regexp.MustCompile(`<(script|style)\b[^>]*>`)
	handler := regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)
	n := 0
	for _, fsys := range []fs.FS{pageFS, publicFS} {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".html") {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			if err != nil {
				return err
			}
			n++
			for _, m := range tag.FindAllString(string(b), -1) {
				if !strings.Contains(m, `nonce="{{`) || !strings.Contains(m, `Nonce}}"`) {
					t.Errorf("%s: %s without the nonce", path, m)
				}
			}
			if m := handler.FindString(string(b)); m != "" {
				t.Errorf("%s: inline event handler %s", path, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("no templates read")
	}
}
