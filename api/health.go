package api

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// readyTimeout bounds each readiness check: a probe that hangs is a failed probe.
const readyTimeout = 2 * time.Second

// healthz answers as long as the process serves HTTP; it checks no dependency, so
// an orchestrator does not restart keytask for a database outage.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("ok\n"))
	return err
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Error  string            `json:"error,omitempty"`
}

// readyz reports whether keytask can serve reads: the database answers. A
// Temporal outage leaves the pages and queries in rotation; commands answer
// 503 on their own until it ends. Details of a failure go to the log, not to
// the unauthenticated caller.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	return s.readiness(w, r, false)
}

// readyzCommands reports whether keytask can also carry out commands, which
// need Temporal as well as the database.
func (s *Server) readyzCommands(w http.ResponseWriter, r *http.Request) error {
	return s.readiness(w, r, true)
}

func (s *Server) readiness(w http.ResponseWriter, r *http.Request, commands bool) error {
	type check struct {
		name  string
		check func(context.Context) error
	}
	checks := []check{{"database", s.pool.Ping}}
	if commands && s.ready != nil {
		checks = append(checks, check{"temporal", s.ready})
	}
	res := readiness{Status: "ready", Checks: map[string]string{}}
	var failed []string
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		err := c.check(ctx)
		cancel()
		if err != nil {
			s.log.WarnContext(r.Context(), "not ready", "check", c.name, "err", err)
			res.Checks[c.name] = "failed"
			failed = append(failed, c.name)
			continue
		}
		res.Checks[c.name] = "ok"
	}
	if len(failed) == 0 {
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	res.Status = "unavailable"
	res.Error = "服务暂不可用：" + strings.Join(failed, "、") + " 检查未通过"
	writeJSON(w, http.StatusServiceUnavailable, res)
	return nil
}
