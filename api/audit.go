package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/projections"
)

// auditRoutes are the auditor's: reading history as of any instant. The
// resource is national (no province, no school), so the policy lets only the
// ministry and auditors read it.
func (s *Server) auditRoutes() []Route {
	return []Route{
		{Pattern: "GET /api/v1/audit/replay", Action: policy.ActionRead, Resource: auditResource("replay"), handle: s.auditReplay},
		{Pattern: "GET /api/v1/audit/diff", Action: policy.ActionRead, Resource: auditResource("diff"), handle: s.auditDiff},
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

// auditReplay rebuilds every read model as of ?as_of= and answers each model's
// digest and row counts, and with ?table= that table's rows (at most ?limit=).
func (s *Server) auditReplay(w http.ResponseWriter, r *http.Request) error {
	a, pos, err := s.asOfParam(r, "as_of")
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", defaultAuditRows, maxAuditRows)
	if err != nil {
		return err
	}
	table := r.URL.Query().Get("table")
	return s.withScratch(r.Context(), func(sc *projections.Scratch) error {
		res, err := sc.ReplayTo(r.Context(), s.store, pos)
		if err != nil {
			return err
		}
		counts, err := sc.RowCounts(r.Context())
		if err != nil {
			return err
		}
		body := map[string]any{"as_of": a.String(), "position": res.Position, "digests": res.Digests, "tables": counts}
		if table != "" {
			n, rows, err := sc.TableRows(r.Context(), table, limit)
			if errors.Is(err, projections.ErrAsOf) {
				return badRequest("table", "没有名为 "+table+" 的读模型表", err.Error())
			}
			if err != nil {
				return err
			}
			body["table"] = map[string]any{"name": table, "count": n, "rows": rows}
		}
		writeJSON(w, http.StatusOK, body)
		return nil
	})
}

// auditDiff compares the read models as of ?from= and ?to=.
func (s *Server) auditDiff(w http.ResponseWriter, r *http.Request) error {
	_, from, err := s.asOfParam(r, "from")
	if err != nil {
		return err
	}
	_, to, err := s.asOfParam(r, "to")
	if err != nil {
		return err
	}
	if from > to {
		return badRequest("to", "to 应不早于 from", fmt.Sprintf("from position %d after to position %d", from, to))
	}
	rows, err := intParam(r, "rows", 20, maxAuditRows)
	if err != nil {
		return err
	}
	return s.withScratch(r.Context(), func(sc *projections.Scratch) error {
		d, err := sc.DiffPositions(r.Context(), s.store, from, to, rows)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	})
}
