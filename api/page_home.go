package api

import (
	"net/http"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/policy"
)

// kindDashboard is a user's home page: it lists only what their scope reaches.
const kindDashboard policy.Kind = "dashboard"

func ownDashboard(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	return policy.Resource{Kind: kindDashboard, ID: p.UserID, Subject: p.UserID}, nil
}

// pageRoutes are the pages behind the login.
func (s *Server) pageRoutes() []Route {
	routes := []Route{
		{Pattern: "GET /web/{$}", Action: policy.ActionRead, Resource: ownDashboard, page: true, handle: s.homePage},
	}
	return append(append(append(routes, s.intentPageRoutes()...), s.batchPageRoutes()...), append(s.applicationPageRoutes(), s.performancePageRoutes()...)...)
}

type roundLink struct {
	RoundID, BatchID string
	Stage            intent.Stage
}

type batchLink struct {
	BatchID, TaskItem, Stage string
}

type homeData struct {
	Rounds  []roundLink
	Batches []batchLink
	Years   []int // performance collections, newest first
}

// homePage is the dashboard: the rounds and batches the user works on, with
// links fitting their role. Round and batch ids are national facts every
// logged-in user may know; what lies behind the links is decided per route.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) error {
	var d homeData
	p := principal(r.Context())
	ctx := r.Context()
	if p.Role == identity.RoleMinistry || p.Role == identity.RoleProvince || p.Role == identity.RoleAuditor {
		rows, err := s.pool.Query(ctx, `SELECT round_id, batch_id, stage FROM intent_rounds ORDER BY opened_at DESC, round_id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var l roundLink
			if err := rows.Scan(&l.RoundID, &l.BatchID, &l.Stage); err != nil {
				rows.Close()
				return err
			}
			d.Rounds = append(d.Rounds, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if p.Role != identity.RoleSchool && p.Role != identity.RoleEvaluator {
		// An expert sees only the batches that assigned them something.
		q, args := `SELECT batch_id, task_item, stage FROM selection_batches ORDER BY opened_at DESC, batch_id`, []any{}
		if p.Role == identity.RoleExpert {
			q = `SELECT b.batch_id, b.task_item, b.stage FROM selection_batches b
				WHERE EXISTS (SELECT 1 FROM selection_batch_applications a WHERE a.batch_id = b.batch_id AND a.experts ? $1)
				ORDER BY b.opened_at DESC, b.batch_id`
			args = append(args, p.UserID)
		}
		rows, err := s.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var l batchLink
			if err := rows.Scan(&l.BatchID, &l.TaskItem, &l.Stage); err != nil {
				rows.Close()
				return err
			}
			d.Batches = append(d.Batches, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if p.Role != identity.RoleExpert && p.Role != identity.RoleEvaluator {
		rows, err := s.pool.Query(ctx, `SELECT year FROM performance_collections ORDER BY year DESC`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var y int
			if err := rows.Scan(&y); err != nil {
				rows.Close()
				return err
			}
			d.Years = append(d.Years, y)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "home.html", pageData{Title: "工作台", Data: d})
}
