package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // deadlines typed without a zone are read in Asia/Shanghai wherever the server runs

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/policy"
)

// Kinds of the intent round's national resources. The policy decides on owners,
// not kinds; these only name the resource in denials.
const (
	kindPlanBatch   policy.Kind = "plan-batch"
	kindLiaison     policy.Kind = "liaison"
	kindIntentRound policy.Kind = "intent-round"
)

// intentRoutes are the endpoints of the undertaking-intent round (承接意向).
func (s *Server) intentRoutes() []Route {
	const (
		read  = policy.ActionRead
		write = policy.ActionWrite
		admin = policy.ActionAdminister
		form  = "/api/v1/intent-rounds/{round}/provinces/{province}"
	)
	return []Route{
		{Pattern: "POST /api/v1/plan-batches", Action: admin, Resource: national(kindPlanBatch), handle: s.openPlanBatch, Request: planBatchRequest{}, Response: planBatchView{}},
		{Pattern: "POST /api/v1/plan-batches/{batch}/items", Action: admin, Resource: national(kindPlanBatch), handle: s.addPlanItems, Request: planItemsRequest{}, Response: planBatchView{}},
		{Pattern: "GET /api/v1/plan-batches/{batch}", Action: read, Resource: planCatalogue, handle: s.getPlanBatch},

		{Pattern: "PUT /api/v1/liaison-deadline", Action: admin, Resource: national(kindLiaison), handle: s.setLiaisonDeadline, Request: liaisonDeadlineRequest{}},
		{Pattern: "PUT /api/v1/provinces/{province}/liaison", Action: write, Resource: provinceLiaison, handle: s.registerLiaison, Request: liaisonRequest{}, Response: liaisonView{}},
		{Pattern: "GET /api/v1/liaisons", Action: read, Resource: national(kindLiaison), handle: s.listLiaisons},

		{Pattern: "POST /api/v1/intent-rounds", Action: admin, Resource: national(kindIntentRound), handle: s.openIntentRound, Request: openRoundRequest{}},
		{Pattern: "GET /api/v1/intent-rounds/{round}", Action: read, Resource: national(kindIntentRound), handle: s.getIntentRound},
		{Pattern: "POST /api/v1/intent-rounds/{round}/file", Action: admin, Resource: national(kindIntentRound), handle: s.fileIntentRound},
		{Pattern: "GET /api/v1/intent-rounds/{round}/summary", Action: read, Resource: national(kindIntentRound), handle: s.intentSummary},
		{Pattern: "GET /api/v1/intent-rounds/{round}/summary.xlsx", Action: read, Resource: national(kindIntentRound), handle: s.intentSummaryXLSX},
		{Pattern: "GET /api/v1/intent-rounds/{round}/missing", Action: read, Resource: national(kindIntentRound), handle: s.intentMissing},

		{Pattern: "PUT " + form + "/draft", Action: write, Resource: provinceForm, handle: s.saveIntentDraft, Request: intent.FormInput{}, Response: formResultView{}},
		{Pattern: "POST " + form + "/submit", Action: write, Resource: provinceForm, handle: s.submitIntent, Request: intent.FormInput{}, Response: formResultView{}},
		{Pattern: "POST " + form + "/return", Action: admin, Resource: provinceForm, handle: s.returnIntent, Request: returnIntentBody{}},
		{Pattern: "POST " + form + "/extend", Action: admin, Resource: provinceForm, handle: s.extendProvince, Request: extendProvinceBody{}},
		{Pattern: "POST " + form + "/feedback", Action: admin, Resource: provinceForm, handle: s.recordFeedback, Request: recordFeedbackBody{}},
		{Pattern: "GET " + form + "/form", Action: read, Resource: provinceForm, handle: s.getIntentForm},
		{Pattern: "GET " + form + "/form/history", Action: read, Resource: provinceForm, handle: s.intentFormHistory},
		{Pattern: "GET " + form + "/form.xlsx", Action: read, Resource: provinceForm, handle: s.intentFormXLSX},
		{Pattern: "GET " + form + "/form/print", Action: read, Resource: provinceForm, handle: s.intentFormPrint},
		{Pattern: "POST " + form + "/letter", Action: write, Resource: provinceForm, handle: s.recordLetter},
		{Pattern: "POST " + form + "/letter/arrived", Action: admin, Resource: provinceForm, handle: s.markLetterArrived},
		{Pattern: "GET " + form + "/letter/scan", Action: read, Resource: provinceForm, handle: s.letterScan},
	}
}

// national describes a resource that belongs to no province: the ministry
// works on it and auditors read it.
func national(kind policy.Kind) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(r *http.Request, _ identity.Principal) (policy.Resource, error) {
		id := r.PathValue("round")
		if id == "" {
			id = r.PathValue("batch")
		}
		return policy.Resource{Kind: kind, ID: id}, nil
	}
}

// planCatalogue is a batch's catalogue: every user reads it, since provinces
// declare against it and the notice publishes it.
func planCatalogue(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: kindPlanBatch, ID: r.PathValue("batch"), Public: true}, nil
}

// provinceLiaison is the liaison of the province in the path.
func provinceLiaison(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	p := r.PathValue("province")
	return policy.Resource{Kind: kindLiaison, ID: p, Province: p}, nil
}

// provinceForm is the intent form of the province in the path, in the round in
// the path: its province reads and writes it, the ministry everything.
func provinceForm(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	p := r.PathValue("province")
	return policy.Resource{Kind: policy.KindIntentForm, ID: r.PathValue("round") + "/" + p, Province: p}, nil
}

// shanghai is where deadlines typed without a zone are.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err) // time/tzdata is embedded: this cannot fail
	}
	return loc
}()

// localLayouts are the deadlines people type: Beijing time, to the minute or second.
var localLayouts = []string{"2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"}

// parseDeadline reads an instant as RFC 3339 ("2022-06-15T18:00:00+08:00") or,
// without a zone, as Beijing time ("2022-06-15 18:00"). Errors:
// *domain.FieldError for field.
func parseDeadline(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, domain.Invalid(field, "请填写截止时间，如 2022-06-15 18:00（北京时间）", field+" is required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, shanghai); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, domain.Invalid(field, "时间格式不正确，应如 2022-06-15 18:00（北京时间）或 2022-06-15T18:00:00+08:00",
		fmt.Sprintf("%s %q is neither RFC 3339 nor a local time", field, clipText(s)))
}

// parseOffset reads a reminder offset: a Go duration ("72h", "90m") or whole
// days ("7d").
func parseOffset(field, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 366 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, domain.Invalid(field, "提醒时间应为截止前的时长，如 168h、72h、24h 或 7d",
		fmt.Sprintf("%s %q is not a duration", field, clipText(s)))
}

func clipText(s string) string {
	if r := []rune(s); len(r) > 32 {
		return string(r[:32]) + "…"
	}
	return s
}

// idempotencyKey returns the request's Idempotency-Key ("" when absent).
// Errors: 400 for a malformed key.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get(headerIdempotencyKey)
	if key != "" && !traceIDPattern.MatchString(key) {
		return "", badRequest(headerIdempotencyKey, "幂等键（Idempotency-Key）只能包含字母、数字和“._:-”，最长128位",
			"malformed idempotency key")
	}
	return key, nil
}

// unavailable is the answer when a command needs Temporal and there is none.
func unavailable(detail string) error {
	return &httpError{status: http.StatusServiceUnavailable, message: "工作流服务暂不可用，请稍后重试", detail: detail}
}

// notFound reports a resource that does not exist, naming it for the user.
func notFound(message, detail string) error {
	return &httpError{status: http.StatusNotFound, message: message, detail: detail}
}
