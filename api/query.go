package api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// queryText returns the query parameter key for a filter that reaches Postgres,
// which refuses text with NUL bytes or invalid UTF-8; such a value is the
// client's mistake, answered 400 naming the parameter rather than 500.
func queryText(r *http.Request, key string) (string, error) {
	v := r.URL.Query().Get(key)
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", badRequest(key, fmt.Sprintf("查询参数 %s 含有无效字符", key), fmt.Sprintf("query %s is not valid text: %q", key, clipText(v)))
	}
	return v, nil
}
