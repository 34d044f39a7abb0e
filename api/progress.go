package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/policy"
	"keytask/exports"
	"keytask/projections"
)

// progressRoutes serve the programme against its national targets: the
// ministry and auditors nationally, a province for itself (the handlers
// narrow the query to the same scope as the policy).
func (s *Server) progressRoutes() []Route {
	read := policy.ActionRead
	return []Route{
		{Pattern: "GET /api/v1/progress", Action: read, Resource: progressScope, handle: s.getProgress},
		{Pattern: "GET /api/v1/progress.xlsx", Action: read, Resource: progressScope, handle: s.progressXLSX},
		{Pattern: "GET /web/dashboard", Action: read, Resource: progressScope, page: true, handle: s.dashboardPage},
	}
}

// progressScope is national for everyone but a province, whose own progress it
// is; schools, experts and evaluators have no view of the programme.
func progressScope(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	res := policy.Resource{Kind: policy.KindProgress, ID: "progress"}
	if p.Role == identity.RoleProvince {
		res.Province = p.Organisation
	}
	return res, nil
}

// progressFilter reads ?plan_batch= and ?province=, narrowed to the
// principal's scope.
func progressFilter(r *http.Request) (projections.ProgressFilter, error) {
	var f projections.ProgressFilter
	var err error
	if f.PlanBatch, err = queryText(r, "plan_batch"); err != nil {
		return f, err
	}
	if f.Province, err = queryText(r, "province"); err != nil {
		return f, err
	}
	if _, ok := identity.Provinces[f.Province]; f.Province != "" && !ok {
		return f, badRequest("province", "province 应为省级单位代码，如 11（北京市）", fmt.Sprintf("unknown province %q", clipText(f.Province)))
	}
	if p := principal(r.Context()); p.Role == identity.RoleProvince {
		f.Province = p.Organisation
	}
	return f, nil
}

// progressState is the programme as of an instant, with what needs acting on.
type progressState struct {
	Report    projections.ProgressReport
	Attention projections.ProgressAttention
	At        time.Time // the instant the numbers stand at
	AsOf      string    // the as_of the request named; empty for now
	Position  int64     // the log position replayed to, with AsOf
}

// progressAt reads the progress read model, or, with ?as_of=, replays it
// alone into a scratch as the log stood at that instant: the same numbers
// the live model showed then.
func (s *Server) progressAt(r *http.Request, f projections.ProgressFilter) (progressState, error) {
	ctx := r.Context()
	if r.URL.Query().Get("as_of") == "" {
		st := progressState{At: time.Now()}
		var err error
		if st.Report, err = projections.ReadProgress(ctx, s.pool, f); err != nil {
			return st, err
		}
		st.Attention, err = projections.ReadProgressAttention(ctx, s.pool, f, st.At)
		return st, err
	}
	a, pos, err := s.asOfParam(r, "as_of")
	if err != nil {
		return progressState{}, err
	}
	st := progressState{AsOf: a.String(), Position: pos, At: a.Time}
	if st.At.IsZero() {
		// A position stands at the instant its last event was recorded.
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(e.recorded_at), 'epoch') FROM event_chain c JOIN events e ON e.id = c.event_id
			WHERE c.position <= $1`, pos).Scan(&st.At); err != nil {
			return st, err
		}
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return st, err
	}
	// The scratch changes the connection's search_path: it is closed, never
	// returned to the pool.
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	sc, err := projections.NewScratch(ctx, conn, "", []projections.Projection{projections.Progress{}})
	if err != nil {
		return st, err
	}
	if _, err := sc.ReplayTo(ctx, s.store, pos); err != nil {
		return st, err
	}
	if st.Report, err = projections.ReadProgress(ctx, conn, f); err != nil {
		return st, err
	}
	st.Attention, err = projections.ReadProgressAttention(ctx, conn, f, st.At)
	return st, err
}

// progressMoneyView is one money row with its amounts as views.
type progressMoneyView struct {
	PlanBatchID string        `json:"plan_batch_id"`
	Item        string        `json:"item"`
	Province    string        `json:"province"`
	Source      intent.Source `json:"source"`
	SourceLabel string        `json:"source_label"`
	Pledged     moneyView     `json:"pledged"`
	Planned     moneyView     `json:"planned"`
	Spent       moneyView     `json:"spent"`
}

type progressSourceView struct {
	Source  intent.Source `json:"source"`
	Label   string        `json:"label"`
	Pledged moneyView     `json:"pledged"`
	Planned moneyView     `json:"planned"`
	Spent   moneyView     `json:"spent"`
}

// progressAnswer is GET /api/v1/progress.
type progressAnswer struct {
	Scope     string                         `json:"scope"` // "national" or the province's code
	At        time.Time                      `json:"at"`
	AsOf      string                         `json:"as_of,omitempty"`
	Position  int64                          `json:"position,omitempty"`
	Items     []projections.ProgressItem     `json:"items"`
	Provinces []projections.ProgressProvince `json:"provinces"`
	Cells     []projections.ProgressCell     `json:"cells"`
	Money     []progressMoneyView            `json:"money"`
	Sources   []progressSourceView           `json:"sources"`
	Attention projections.ProgressAttention  `json:"attention"`
}

func scopeOf(f projections.ProgressFilter) string {
	if f.Province == "" {
		return "national"
	}
	return f.Province
}

func (s *Server) getProgress(w http.ResponseWriter, r *http.Request) error {
	f, err := progressFilter(r)
	if err != nil {
		return err
	}
	st, err := s.progressAt(r, f)
	if err != nil {
		return err
	}
	out := progressAnswer{Scope: scopeOf(f), At: st.At.UTC(), AsOf: st.AsOf, Position: st.Position, Items: st.Report.Items,
		Provinces: st.Report.Provinces, Cells: st.Report.Cells, Attention: st.Attention,
		Money: make([]progressMoneyView, len(st.Report.Money)), Sources: make([]progressSourceView, len(st.Report.Sources))}
	for i, m := range st.Report.Money {
		out.Money[i] = progressMoneyView{PlanBatchID: m.PlanBatchID, Item: m.Item, Province: m.Province, Source: m.Source,
			SourceLabel: m.Source.Label(), Pledged: money(m.Pledged), Planned: money(m.Planned), Spent: money(m.Spent)}
	}
	for i, t := range st.Report.Sources {
		out.Sources[i] = progressSourceView{Source: t.Source, Label: t.Label, Pledged: money(t.Pledged), Planned: money(t.Planned), Spent: money(t.Spent)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// progressTitle names a report's scope and instant in Chinese.
func progressTitle(f projections.ProgressFilter, st progressState) string {
	scope := "全国"
	if f.Province != "" {
		scope = publicProvince(f.Province)
	}
	if f.PlanBatch != "" {
		scope += "　任务批次 " + f.PlanBatch
	}
	when := "截至 " + st.At.In(shanghai).Format("2006-01-02 15:04") + "（北京时间）"
	if st.AsOf != "" {
		when = fmt.Sprintf("时点回放：日志位置 %d，%s", st.Position, when)
	}
	return scope + "　" + when
}

func (s *Server) progressXLSX(w http.ResponseWriter, r *http.Request) error {
	f, err := progressFilter(r)
	if err != nil {
		return err
	}
	st, err := s.progressAt(r, f)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeXLSX, "progress-"+scopeOf(f)+".xlsx", "重点任务进展-"+scopeOf(f)+".xlsx",
		func(b *bytes.Buffer) error { return exports.WriteProgressXLSX(b, progressTitle(f, st), st.Report) })
}
