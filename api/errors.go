package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/policy"
	"keytask/events"
)

// httpError is an error the API reports with its own status, message and field.
type httpError struct {
	status  int
	code    string // stable machine code; empty means the status's (see statusCode)
	field   string
	message string // for users, in Simplified Chinese
	detail  string // for logs, in English
}

func (e *httpError) Error() string { return e.detail }

func badRequest(field, message, detail string) error {
	return &httpError{status: http.StatusBadRequest, field: field, message: message, detail: detail}
}

// errorBody is every error response: the message for users, a stable code
// for programs, and the field at fault when there is one.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

// The stable machine codes of errors. A client branches on these, never on
// the Chinese message, which may be reworded.
const (
	codeBadRequest      = "bad_request"      // the request cannot be read (body, header, query)
	codeUnauthorized    = "unauthorized"     // no valid token or session
	codeForbidden       = "forbidden"        // the policy refuses the caller
	codeCSRF            = "csrf_rejected"    // a session's write without its CSRF token
	codeNotFound        = "not_found"        // no such resource, or not visible to the caller
	codeConflict        = "conflict"         // the current state refuses the command
	codeVersionConflict = "version_conflict" // someone else changed it meanwhile: reload and retry
	codeInvalid         = "invalid"          // a field's value is refused
	codeKeyReused       = app.CodeKeyReused  // an Idempotency-Key sent again with another body
	codeTooLarge        = "too_large"        // the body or file exceeds its bound
	codeRateLimited     = "rate_limited"     // too many attempts: wait and retry
	codeUnavailable     = "unavailable"      // a service the command needs is down: retry later
	codeInternal        = "internal"         // the server's fault; the message carries the request id
)

// errorCodes lists the codes above for the API's contract.
func errorCodes() []string {
	return []string{codeBadRequest, codeUnauthorized, codeForbidden, codeCSRF, codeNotFound, codeConflict,
		codeVersionConflict, codeInvalid, codeKeyReused, codeTooLarge, codeRateLimited, codeUnavailable, codeInternal}
}

// statusCode is the machine code of an error that names none of its own.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeBadRequest
	case http.StatusUnauthorized:
		return codeUnauthorized
	case http.StatusForbidden:
		return codeForbidden
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusConflict:
		return codeConflict
	case http.StatusRequestEntityTooLarge:
		return codeTooLarge
	case http.StatusUnprocessableEntity:
		return codeInvalid
	case http.StatusTooManyRequests:
		return codeRateLimited
	case http.StatusServiceUnavailable:
		return codeUnavailable
	}
	if status >= 500 {
		return codeInternal
	}
	return codeBadRequest
}

// orCode is code, or the status's when code is empty.
func orCode(code string, status int) string {
	if code != "" {
		return code
	}
	return statusCode(status)
}

// fail answers err as JSON. Errors the API does not know are the server's fault:
// they are logged in full and the user sees only that something went wrong.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	body, status := s.explain(r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="keytask"`)
	}
	writeJSON(w, status, body)
}

// explain turns err into what the user is told and the status, and logs it.
func (s *Server) explain(r *http.Request, err error) (errorBody, int) {
	var (
		he *httpError
		ce *domain.ConflictError
		fe *domain.FieldError
		ve *events.ErrConflict
		nf *app.NotFoundError
	)
	body, status := errorBody{}, http.StatusInternalServerError
	switch {
	case errors.As(err, &he):
		body, status = errorBody{he.message, orCode(he.code, he.status), he.field}, he.status
	case errors.As(err, &nf):
		body, status = errorBody{Error: nf.Message, Code: codeNotFound}, http.StatusNotFound
	case errors.As(err, &ce):
		body, status = errorBody{ce.Message, orCode(ce.Code, http.StatusConflict), ce.Field}, http.StatusConflict
	case errors.As(err, &fe):
		body, status = errorBody{fe.Message, orCode(fe.Code, http.StatusUnprocessableEntity), fe.Field}, http.StatusUnprocessableEntity
	case errors.Is(err, policy.ErrNotFound):
		body, status = errorBody{Error: "资源不存在", Code: codeNotFound}, http.StatusNotFound
	case errors.Is(err, policy.ErrForbidden):
		body, status = errorBody{Error: "无权执行此操作", Code: codeForbidden}, http.StatusForbidden
	case errors.As(err, &ve):
		body, status = errorBody{Error: "数据已被他人修改，请刷新后重试", Code: codeVersionConflict}, http.StatusConflict
	default:
		body.Error = "服务器内部错误，请稍后重试；如仍有问题，请将请求编号 " + requestID(r.Context()) + " 告知管理员"
		body.Code = codeInternal
	}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", requestID(r.Context()), "err", err)
	} else {
		s.log.DebugContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path,
			"status", status, "request_id", requestID(r.Context()), "err", err)
	}
	return body, status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// The body is encoded whole before anything is sent: a value that cannot
	// be encoded still gets an honest 500, and the response goes out in one
	// write with its length instead of through chunked encoding.
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // Chinese and "<令牌>" stay readable
	if err := enc.Encode(v); err != nil {
		slog.Error("encode response", "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString(`{"error":"服务器内部错误，请稍后重试","code":"internal"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the status is sent; a broken connection has nobody to tell
}

// jsonBuffers keeps response buffers between requests; a busy read endpoint
// would otherwise allocate and grow one per response.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putJSONBuffer returns buf to the pool unless one large export grew it: the
// pool should not pin megabytes for the small responses that follow.
func putJSONBuffer(buf *bytes.Buffer) {
	if buf.Cap() > 1<<20 {
		return
	}
	buf.Reset()
	jsonBuffers.Put(buf)
}

// maxBody bounds a JSON request body; no command comes near it.
const maxBody = 1 << 20

// decodeJSON reads exactly one JSON object into dst, refusing unknown fields, and
// explains in the user's language what is wrong with a body it cannot read.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if call, ok := r.Context().Value(routeCallKey).(*routeCall); ok {
		call.decoded = append(call.decoded, reflect.TypeOf(dst).Elem())
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return badRequest("", "请求体只能包含一个 JSON 对象", "request body has data after the JSON object")
		}
		if field, ok := nulText(reflect.ValueOf(dst), ""); ok {
			return badRequest(field, fmt.Sprintf("字段 %s 含有无效字符（\\u0000）", field), "request body: NUL in "+field)
		}
		return nil
	}
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		unknown = "json: unknown field "
	)
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("", "请求体不能为空，应为 JSON 对象", "empty request body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "请求体不是完整的 JSON", "request body ends inside the JSON")
	case errors.As(err, &syntax):
		return badRequest("", fmt.Sprintf("请求体不是有效的 JSON：第 %d 个字节附近有语法错误", syntax.Offset),
			fmt.Sprintf("request body: %v at offset %d", err, syntax.Offset))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("", "请求体应为 JSON 对象", "request body: "+err.Error())
		}
		return badRequest(typ.Field, fmt.Sprintf("字段 %s 的类型错误，应为%s", typ.Field, jsonKind(typ.Type)),
			"request body: "+err.Error())
	case strings.HasPrefix(err.Error(), unknown):
		// encoding/json has no type for this error; its text is stable.
		field := strings.Trim(strings.TrimPrefix(err.Error(), unknown), `"`)
		return badRequest(field, "不支持的字段："+field, "request body: "+err.Error())
	case errors.As(err, &tooBig):
		return &httpError{status: http.StatusRequestEntityTooLarge, message: "请求体过大",
			detail: fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)}
	}
	return badRequest("", "无法读取请求体", "request body: "+err.Error())
}

// nulText finds a text in v holding NUL (JSON "\u0000") and names it as the
// body spells it. encoding/json accepts it, and so does the event log, but
// Postgres keeps no NUL in the read models' text and jsonb columns: such an
// event would fail its projections for good. Refused here, no command sees it.
func nulText(v reflect.Value, path string) (string, bool) {
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return nulText(v.Elem(), path)
	case reflect.String:
		return path, strings.ContainsRune(v.String(), 0)
	case reflect.Slice, reflect.Array:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			// Kept as sent: its texts are read when a rule decodes it.
			var inner any
			if json.Unmarshal(v.Bytes(), &inner) != nil {
				return "", false // the rule that reads it says what is wrong
			}
			return nulText(reflect.ValueOf(&inner), path)
		}
		for i := range v.Len() {
			if f, ok := nulText(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return f, true
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			name := join(fmt.Sprint(k))
			if k.Kind() == reflect.String && strings.ContainsRune(k.String(), 0) {
				return name, true
			}
			if f, ok := nulText(v.MapIndex(k), name); ok {
				return f, true
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			p := join(name)
			if sf.Anonymous && sf.Tag.Get("json") == "" {
				p = path
			}
			if f, ok := nulText(v.Field(i), p); ok {
				return f, true
			}
		}
	}
	return "", false
}

// jsonKind names, for users, the JSON type a Go type expects.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "字符串"
	case reflect.Bool:
		return "布尔值"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "数字"
	case reflect.Slice, reflect.Array:
		return "数组"
	default:
		return "对象"
	}
}
