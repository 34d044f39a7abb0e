package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/exports"
	"keytask/projections"
)

// auditRoutes are the auditor's: reading history as of any instant. The
// resource is national (no province, no school), so the policy lets only the
// ministry and auditors read it.
func (s *Server) auditRoutes() []Route {
	return []Route{
		{Pattern: "GET /api/v1/audit/replay", Action: policy.ActionRead, Resource: auditResource("replay"), handle: s.auditReplay},
		{Pattern: "GET /api/v1/audit/diff", Action: policy.ActionRead, Resource: auditResource("diff"), handle: s.auditDiff},
		// The applicant's school and province may read why, like the ministry and
		// auditors; who objected is shown to the ministry alone.
		{Pattern: "GET /api/v1/applications/{id}/explanation", Action: policy.ActionRead, Resource: s.applicationResource(false), handle: s.explanation},
		{Pattern: "GET /api/v1/applications/{id}/evaluation", Action: policy.ActionRead, Resource: s.applicationResource(false), handle: s.evaluation},
		{Pattern: "GET /api/v1/audit/history/{kind}/{id}", Action: policy.ActionRead, Resource: auditResource("history"), handle: s.auditHistory},
	}
}

func auditResource(id string) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(*http.Request, identity.Principal) (policy.Resource, error) {
		return policy.Resource{Kind: policy.KindAudit, ID: id}, nil
	}
}

// Bounds of the rows an audit answer shows.
const (
	defaultAuditRows = 100
	maxAuditRows     = 1000
)

// asOfParam reads an instant from the query: a log position or an RFC 3339 time,
// resolved against the sealed log.
func (s *Server) asOfParam(r *http.Request, field string) (projections.AsOf, int64, error) {
	v := r.URL.Query().Get(field)
	if v == "" {
		return projections.AsOf{}, 0, badRequest(field, field+" 为必填项：日志位置（非负整数）或 RFC 3339 时间", "missing "+field)
	}
	a, err := projections.ParseAsOf(v)
	if err != nil {
		return a, 0, badRequest(field, field+" 应为日志位置（非负整数）或 RFC 3339 时间，如 2022-06-15T10:00:00+08:00", err.Error())
	}
	pos, err := projections.ResolveAsOf(r.Context(), s.pool, a)
	if errors.Is(err, projections.ErrAsOf) {
		return a, 0, badRequest(field, field+" 超出已封存日志的范围", err.Error())
	}
	return a, pos, err
}

func intParam(r *http.Request, field string, def, maxN int) (int, error) {
	v := r.URL.Query().Get(field)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxN {
		return 0, badRequest(field, fmt.Sprintf("%s 应为 0 到 %d 之间的整数", field, maxN), fmt.Sprintf("%s %q out of range", field, v))
	}
	return n, nil
}

// withScratch runs f on a scratch of every read model in a temporary schema of
// a connection of its own, which is closed afterwards rather than returned to
// the pool: its search_path was changed and its temporary tables must go.
func (s *Server) withScratch(ctx context.Context, f func(sc *projections.Scratch) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := c.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	sc, err := projections.NewScratch(ctx, conn, "", projections.All())
	if err != nil {
		return err
	}
	return f(sc)
}

// replayAnswer is every read model as of an instant: each projection's digest,
// each table's row count, and optionally one table's rows.
type replayAnswer struct {
	AsOf     string                      `json:"as_of"`
	Position int64                       `json:"position"`
	Digests  map[string]string           `json:"digests"`
	Tables   map[string]map[string]int64 `json:"tables"`
	Table    *replayTable                `json:"table,omitempty"`
}

// replayTable is one read-model table's rows as of an instant.
type replayTable struct {
	Name  string            `json:"name"`
	Count int64             `json:"count"`
	Rows  []json.RawMessage `json:"rows"`
}

// replay rebuilds every read model as of ?as_of= into a scratch and reads the
// digests, the row counts and, with ?table=, that table's rows (at most
// ?limit=). The API and the auditor's page both answer with it.
func (s *Server) replay(r *http.Request) (replayAnswer, error) {
	a, pos, err := s.asOfParam(r, "as_of")
	if err != nil {
		return replayAnswer{}, err
	}
	limit, err := intParam(r, "limit", defaultAuditRows, maxAuditRows)
	if err != nil {
		return replayAnswer{}, err
	}
	table := r.URL.Query().Get("table")
	var out replayAnswer
	err = s.withScratch(r.Context(), func(sc *projections.Scratch) error {
		res, err := sc.ReplayTo(r.Context(), s.store, pos)
		if err != nil {
			return err
		}
		counts, err := sc.RowCounts(r.Context())
		if err != nil {
			return err
		}
		out = replayAnswer{AsOf: a.String(), Position: res.Position, Digests: res.Digests, Tables: counts}
		if table != "" {
			n, rows, err := sc.TableRows(r.Context(), table, limit)
			if errors.Is(err, projections.ErrAsOf) {
				return badRequest("table", "没有名为 "+table+" 的读模型表", err.Error())
			}
			if err != nil {
				return err
			}
			if err := redactTableRows(principal(r.Context()), table, rows); err != nil {
				return err
			}
			out.Table = &replayTable{Name: table, Count: n, Rows: rows}
		}
		return nil
	})
	return out, err
}

// auditReplay answers replay as JSON.
func (s *Server) auditReplay(w http.ResponseWriter, r *http.Request) error {
	out, err := s.replay(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// diff compares the read models as of ?from= and ?to= (at most ?rows= rows of
// each table shown). The API and the auditor's page both answer with it.
func (s *Server) diff(r *http.Request) (projections.Diff, error) {
	_, from, err := s.asOfParam(r, "from")
	if err != nil {
		return projections.Diff{}, err
	}
	_, to, err := s.asOfParam(r, "to")
	if err != nil {
		return projections.Diff{}, err
	}
	if from > to {
		return projections.Diff{}, badRequest("to", "to 应不早于 from", fmt.Sprintf("from position %d after to position %d", from, to))
	}
	rows, err := intParam(r, "rows", 20, maxAuditRows)
	if err != nil {
		return projections.Diff{}, err
	}
	var d projections.Diff
	err = s.withScratch(r.Context(), func(sc *projections.Scratch) error {
		if d, err = sc.DiffPositions(r.Context(), s.store, from, to, rows); err != nil {
			return err
		}
		return redactDiff(principal(r.Context()), &d)
	})
	return d, err
}

// auditDiff answers diff as JSON.
func (s *Server) auditDiff(w http.ResponseWriter, r *http.Request) error {
	d, err := s.diff(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// contentTypeJSONL is JSON Lines, one event per line.
const contentTypeJSONL = "application/x-ndjson; charset=utf-8"

// auditHistory answers the ordered events of an application, batch, province
// or project, as JSON, or with ?format=jsonl or ?format=xlsx as a file. Only
// ministry staff see who filed an objection.
func (s *Server) auditHistory(w http.ResponseWriter, r *http.Request) error {
	kind, err := projections.ParseSubjectKind(r.PathValue("kind"))
	if err != nil {
		return badRequest("kind", "kind 应为 application（申报）、batch（批次）、province（省份）或 project（项目）", err.Error())
	}
	id := r.PathValue("id")
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "jsonl", "xlsx":
	default:
		return badRequest("format", "format 应为 json、jsonl 或 xlsx", "format "+format)
	}
	entries, err := projections.History(r.Context(), s.pool, kind, id, principal(r.Context()))
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []projections.HistoryEntry{}
	}
	base := fmt.Sprintf("history-%s-%s", kind, id)
	switch format {
	case "jsonl":
		return sendFile(w, contentTypeJSONL, base+".jsonl", base+".jsonl", func(b *bytes.Buffer) error {
			return exports.WriteHistoryJSONL(b, entries)
		})
	case "xlsx":
		return sendFile(w, contentTypeXLSX, base+".xlsx", fmt.Sprintf("%s事件历史-%s.xlsx", kind.Zh(), id), func(b *bytes.Buffer) error {
			return exports.WriteHistoryXLSX(b, kind, id, entries)
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": kind, "id": id, "entries": entries})
	return nil
}

// explainApplication answers why the published result of the application's batch came
// out as it did for the application. The API and the page both answer with it.
func (s *Server) explainApplication(r *http.Request) (projections.Explanation, error) {
	a, err := s.loadApplication(r)
	if err != nil {
		return projections.Explanation{}, err
	}
	x, err := projections.Explain(r.Context(), s.store, a.BatchID, a.ID, principal(r.Context()))
	switch {
	case errors.Is(err, projections.ErrNotPublished):
		return x, notFound("该申报所在批次尚未公布遴选结果", err.Error())
	case errors.Is(err, projections.ErrNotRanked):
		return x, notFound("该申报未进入专家遴选排名，没有可说明的遴选结果", err.Error())
	}
	return x, err
}

// evaluateApplication answers the application's evaluation summary: its
// panel's marks without names, and the consensus rationale where there was
// one, once the result is published. The API and the page both answer with it.
func (s *Server) evaluateApplication(r *http.Request) (projections.Evaluation, error) {
	a, err := s.loadApplication(r)
	if err != nil {
		return projections.Evaluation{}, err
	}
	ev, err := projections.Evaluate(r.Context(), s.store, a.BatchID, a.ID, principal(r.Context()))
	switch {
	case errors.Is(err, projections.ErrNotPublished):
		return ev, notFound("该申报所在批次尚未公布遴选结果，评审情况摘要于公布后提供", err.Error())
	case errors.Is(err, projections.ErrNotRanked):
		return ev, notFound("该申报未进入专家评审，没有评审情况摘要", err.Error())
	}
	return ev, err
}

func (s *Server) evaluation(w http.ResponseWriter, r *http.Request) error {
	ev, err := s.evaluateApplication(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

// explanation answers explainApplication as JSON.
func (s *Server) explanation(w http.ResponseWriter, r *http.Request) error {
	x, err := s.explainApplication(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, x)
	return nil
}
