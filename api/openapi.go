package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// The API's contract, an OpenAPI 3.1 document generated from the route table:
// every route with its policy, the JSON schemas of the bodies it declares
// (Route.Request and Route.Response, derived by reflection from the Go types
// the handler decodes and encodes, json tags and all) and the error shape.
// Nothing in it is written twice: a route added to the table is in the
// document, and a body type changed in Go is changed in the document.

// openAPIVersion is the version of the OpenAPI specification the document follows.
const openAPIVersion = "3.1.0"

// openAPIDocument returns the contract of the routes as JSON.
func openAPIDocument(routes []Route) ([]byte, error) {
	g := &schemaGen{components: map[string]any{}, names: map[schemaKey]string{}, taken: map[string]schemaKey{}}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		method, pattern, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			method, pattern = "GET", rt.Pattern
		}
		path, params := openAPIPath(pattern)
		op := g.operation(rt, method, path, params)
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = op
	}
	g.components[errorSchemaName] = map[string]any{
		"type":        "object",
		"description": "每个错误的响应体：error 为给用户看的中文说明，code 为稳定的机器代码，field 为出错的字段（如有）。",
		"properties": map[string]any{
			"error": map[string]any{"type": "string", "description": "中文错误说明"},
			"code": map[string]any{"type": "string", "pattern": "^[a-z][a-z_]*$",
				"description": "稳定的机器代码，客户端据此分支（不要依据中文说明）：" + strings.Join(errorCodes(), "、")},
			"field": map[string]any{"type": "string", "description": "出错的字段（请求体中的路径、查询参数或请求头名）"},
		},
		"required": []string{"error", "code"},
	}
	doc := map[string]any{
		"openapi": openAPIVersion,
		"info": map[string]any{
			"title":   "keytask — 全国技工教育重点任务管理平台 API",
			"version": "v1",
			"description": "由服务器的路由表生成。每个操作的 x-keytask-policy 说明其权限规则；" +
				"错误一律为 Error 结构（中文 error、机器 code、出错字段 field）。",
		},
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"paths":             paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "API 令牌：Authorization: Bearer <令牌>"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie, "description": "浏览器登录会话（写操作另需 CSRF 令牌）"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

const errorSchemaName = "Error"

var pathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// openAPIPath turns a ServeMux pattern's path into an OpenAPI path and its
// parameters: {name...} becomes {name}, and {$} (the exact path) goes.
func openAPIPath(pattern string) (string, []string) {
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	var params []string
	path := pathParam.ReplaceAllStringFunc(pattern, func(m string) string {
		name := pathParam.FindStringSubmatch(m)[1]
		params = append(params, name)
		return "{" + name + "}"
	})
	return path, params
}

// operation describes one route.
func (g *schemaGen) operation(rt Route, method, path string, params []string) map[string]any {
	op := map[string]any{
		"operationId": operationID(method, path),
		"tags":        []string{routeTag(rt, path)},
	}
	policyExt := map[string]any{"public": rt.Public}
	switch {
	case rt.Public:
		op["security"] = []any{}
		op["description"] = "公开：无需登录。"
	case rt.Resource == nil:
		op["description"] = "未声明权限规则：对所有人拒绝。"
	default:
		resource := funcName(rt.Resource)
		policyExt["action"] = string(rt.Action)
		policyExt["resource"] = resource
		op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
		op["description"] = fmt.Sprintf("权限：动作 %s，资源 %s（由 policy 模块判定，见访问矩阵）。", rt.Action, resource)
	}
	op["x-keytask-policy"] = policyExt
	if rt.page {
		op["x-keytask-page"] = true
	}
	var ps []any
	for _, p := range params {
		ps = append(ps, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
	}
	if method != "GET" && method != "HEAD" && method != "OPTIONS" {
		ps = append(ps, map[string]any{"name": headerIdempotencyKey, "in": "header", "required": false,
			"description": "幂等键：同一键、同一请求体的重复请求得到第一次的结果；同一键配不同请求体被拒绝（422）。",
			"schema":      map[string]any{"type": "string", "pattern": traceIDPattern.String()}})
	}
	if len(ps) > 0 {
		op["parameters"] = ps
	}
	if rt.Request != nil {
		t := reflect.TypeOf(rt.Request)
		// A command without fields accepts an empty body as well.
		op["requestBody"] = map[string]any{"required": t.Kind() != reflect.Struct || t.NumField() > 0, "content": map[string]any{
			"application/json": map[string]any{"schema": g.schema(t, modeRequest)},
		}}
	}
	ok := map[string]any{"description": "成功"}
	switch {
	case rt.Response != nil:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Response), modeResponse)}}
	case rt.page || strings.HasSuffix(path, "/print") || strings.HasPrefix(path, "/public/") && method == "GET":
		ok["content"] = map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
	case strings.HasSuffix(path, ".xlsx"):
		ok["content"] = map[string]any{xlsxType: map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": xlsxType}}}
	case strings.HasPrefix(path, "/api/"):
		ok["description"] = "成功（响应体结构尚未在路由表中声明）"
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}
	}
	errRef := map[string]any{"$ref": "#/components/schemas/" + errorSchemaName}
	responses := map[string]any{
		"2XX":     ok,
		"default": map[string]any{"description": "错误", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
	}
	if _, probe := rt.Response.(readiness); probe {
		// A probe that fails answers its checks, not an error.
		responses["503"] = map[string]any{"description": "未就绪", "content": ok["content"]}
	}
	op["responses"] = responses
	return op
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// operationID names an operation for generated clients: getApiV1PlanBatchesBatch.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	upper := true
	for _, r := range path {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			if upper && r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			upper = false
		default:
			upper = true
		}
	}
	return b.String()
}

// routeTag groups operations by the first path segment after /api/v1.
func routeTag(rt Route, path string) string {
	rest := strings.TrimPrefix(path, "/api/v1")
	seg, _, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if seg == "" || strings.Contains(seg, "{") {
		seg = "root"
	}
	if rt.page {
		return "pages"
	}
	return seg
}

// funcName names a route's resource function for readers: "provinceForm".
func funcName(f any) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	name = name[strings.LastIndex(name, "/")+1:]
	name = strings.TrimPrefix(name, "api.")
	name = strings.TrimPrefix(name, "(*Server).")
	name = strings.TrimSuffix(name, "-fm")
	return name
}

// schemaMode says which side of the wire a schema describes. The decoder
// requires no field (the rules name a missing one), refuses unknown ones and
// reads null as nothing; the encoder always writes every field without
// omitempty.
type schemaMode int

const (
	modeRequest schemaMode = iota
	modeResponse
)

type schemaKey struct {
	t    reflect.Type
	mode schemaMode
}

// schemaGen derives JSON Schemas (2020-12, as OpenAPI 3.1 has them) from Go
// types the way encoding/json reads and writes them. Named struct types
// become components referred to by $ref, so recursion ends.
type schemaGen struct {
	components map[string]any
	names      map[schemaKey]string
	taken      map[string]schemaKey
}

var (
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	rawMessage      = reflect.TypeFor[json.RawMessage]()
	timeType        = reflect.TypeFor[time.Time]()
)

func (g *schemaGen) schema(t reflect.Type, mode schemaMode) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawMessage:
		return map[string]any{}
	case t.Kind() == reflect.Pointer:
		s := g.schema(t.Elem(), mode)
		return nullable(s)
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) && t.Kind() == reflect.Struct:
		s := map[string]any{"type": "string"}
		if t.String() == "uuid.UUID" {
			s["format"] = "uuid"
		}
		return s
	case t.Implements(jsonMarshaler) && t.Kind() == reflect.Struct:
		return map[string]any{"description": t.String()}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": []string{"string", "null"}, "contentEncoding": "base64"}
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem(), mode)}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), mode), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem(), mode)}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t, mode)
		}
		return map[string]any{"$ref": "#/components/schemas/" + g.component(t, mode)}
	}
	return map[string]any{} // interfaces: any JSON value
}

// component registers a named struct type and returns its component name.
func (g *schemaGen) component(t reflect.Type, mode schemaMode) string {
	k := schemaKey{t, mode}
	if name, ok := g.names[k]; ok {
		return name
	}
	base := componentName(t)
	if mode == modeRequest && !strings.HasSuffix(base, "Input") && !strings.HasSuffix(base, "Request") && !strings.HasSuffix(base, "Command") {
		base += "Input"
	}
	name := base
	for i := 2; ; i++ {
		if _, taken := g.taken[name]; !taken {
			break
		}
		name = fmt.Sprintf("%s%d", base, i)
	}
	g.names[k], g.taken[name] = name, k
	g.components[name] = map[string]any{} // a placeholder while its fields refer back to it
	g.components[name] = g.structSchema(t, mode)
	return name
}

var nonName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// componentName is the Go type's name with its package: intent.FormInput
// becomes IntentFormInput.
func componentName(t reflect.Type) string {
	pkg := t.PkgPath()
	pkg = pkg[strings.LastIndex(pkg, "/")+1:]
	name := nonName.ReplaceAllString(t.Name(), "")
	if pkg == "api" || pkg == "" {
		return strings.ToUpper(name[:1]) + name[1:]
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:] + strings.ToUpper(name[:1]) + name[1:]
}

func (g *schemaGen) structSchema(t reflect.Type, mode schemaMode) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, mode, props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if mode == modeRequest {
		// decodeJSON refuses fields the type does not have.
		s["additionalProperties"] = false
	}
	if len(required) > 0 {
		slices.Sort(required)
		s["required"] = required
	}
	return s
}

// fields adds t's JSON fields as encoding/json sees them, embedded structs
// flattened.
func (g *schemaGen) fields(t reflect.Type, mode schemaMode, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !ft.Implements(jsonMarshaler) && !ft.Implements(textMarshaler) {
				g.fields(ft, mode, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(ft, mode)
		if slices.Contains(strings.Split(opts, ","), "string") {
			s = map[string]any{"type": "string"}
		}
		props[name] = s
		if mode == modeResponse && !slices.Contains(strings.Split(opts, ","), "omitempty") &&
			!slices.Contains(strings.Split(opts, ","), "omitzero") {
			*required = append(*required, name)
		}
	}
}

func nullable(s map[string]any) map[string]any {
	if _, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	switch typ := s["type"].(type) {
	case string:
		out := maps.Clone(s)
		out["type"] = []string{typ, "null"}
		return out
	case []string:
		if !slices.Contains(typ, "null") {
			out := maps.Clone(s)
			out["type"] = append(slices.Clone(typ), "null")
			return out
		}
	}
	return s
}

// openAPI serves the contract. It is generated once per server: the route
// table does not change while it runs.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	s.contractOnce.Do(func() { s.contract, s.contractErr = openAPIDocument(s.routes) })
	if s.contractErr != nil {
		return fmt.Errorf("generate the OpenAPI document: %w", s.contractErr)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.contract)
	return nil
}

// contractCache holds the generated document.
type contractCache struct {
	contractOnce sync.Once
	contract     []byte
	contractErr  error
}
