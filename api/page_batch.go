package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"keytask/domain"
	"keytask/domain/policy"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/projections"
	"keytask/workflows"
)

var stageNames = map[selection.Stage]string{
	selection.StageRecommendation: "组织推荐", selection.StageQualification: "资格审核", selection.StageExpertReview: "专家遴选",
	selection.StageNotice: "公示", selection.StagePublished: "公布",
}

func stageName(s string) string {
	if n, ok := stageNames[selection.Stage(s)]; ok {
		return n
	}
	return s
}

func outcomeName(o selection.Outcome) string {
	return map[selection.Outcome]string{selection.Passed: "通过", selection.Failed: "不通过", selection.Returned: "退回补正"}[o]
}

// batchPageRoutes are the selection batch's pages: the ministry's stage board
// and qualification queue, a province's recommendation list, an expert's review form.
func (s *Server) batchPageRoutes() []Route {
	const (
		read  = policy.ActionRead
		write = policy.ActionWrite
		admin = policy.ActionAdminister
		batch = "/web/selection-batches/{batch}"
	)
	nat := national(kindSelectionBatch)
	return []Route{
		{Pattern: "GET " + batch, Action: read, Resource: nat, page: true, handle: s.boardPage},
		{Pattern: "POST " + batch + "/advance", Action: admin, Resource: nat, page: true, handle: s.postBatchCommand(s.advanceArg)},
		{Pattern: "POST " + batch + "/assign", Action: admin, Resource: nat, page: true,
			handle: s.postBatchCommand(func(r *http.Request, _ projections.SelectionBatchRecord) (string, any, string, error) {
				return workflows.UpdateAssignExperts, workflows.AssignCommand{Actor: metadata(r.Context())}, "已分配评审专家", nil
			})},
		{Pattern: "POST " + batch + "/rank", Action: admin, Resource: nat, page: true,
			handle: s.postBatchCommand(func(r *http.Request, _ projections.SelectionBatchRecord) (string, any, string, error) {
				return workflows.UpdateProposeRanking, workflows.RankCommand{Actor: metadata(r.Context())}, "已生成拟遴选名单", nil
			})},
		{Pattern: "POST " + batch + "/confirm", Action: admin, Resource: nat, page: true,
			handle: s.postBatchCommand(func(r *http.Request, b projections.SelectionBatchRecord) (string, any, string, error) {
				return workflows.UpdateConfirmRanking, workflows.ConfirmRankingCommand{Round: b.ProposedRound, Actor: metadata(r.Context())}, "已确认遴选名单", nil
			})},
		{Pattern: "POST " + batch + "/objections/{objection}/adjudicate", Action: admin, Resource: nat, page: true,
			handle: s.postBatchCommand(func(r *http.Request, _ projections.SelectionBatchRecord) (string, any, string, error) {
				return workflows.UpdateAdjudicateObjection, workflows.AdjudicateCommand{ObjectionID: r.PathValue("objection"),
					Outcome: selection.Adjudication(r.PostFormValue("outcome")), Reason: r.PostFormValue("reason"), Actor: metadata(r.Context())}, "异议已处理", nil
			})},
		{Pattern: "POST " + batch + "/publish", Action: admin, Resource: nat, page: true,
			handle: s.postBatchCommand(func(r *http.Request, _ projections.SelectionBatchRecord) (string, any, string, error) {
				return workflows.UpdatePublishSelection, workflows.PublishCommand{Actor: metadata(r.Context())}, "遴选结果已公布", nil
			})},
		{Pattern: "GET " + batch + "/qualification", Action: read, Resource: nat, page: true, handle: s.qualificationPage},
		{Pattern: "POST " + batch + "/qualify", Action: admin, Resource: nat, page: true, handle: s.postBatchCommand(qualifyArg)},
		{Pattern: "GET " + batch + "/provinces/{province}/recommend", Action: read, Resource: provinceRecommendation, page: true, handle: s.recommendPage},
		{Pattern: "POST " + batch + "/provinces/{province}/recommend", Action: write, Resource: provinceRecommendation, page: true,
			handle: s.postBatchCommand(s.recommendFormArg)},
		{Pattern: "GET " + batch + "/review", Action: read, Resource: s.batchReviews, page: true, handle: s.reviewPage},
		{Pattern: "POST " + batch + "/review", Action: write, Resource: s.batchReviews, page: true, handle: s.postScores},
	}
}

func batchPath(id string) string { return "/web/selection-batches/" + url.PathEscape(id) }

func (s *Server) pageBatch(r *http.Request) (projections.SelectionBatchRecord, error) {
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) {
		return b, notFound("遴选批次不存在", err.Error())
	}
	return b, err
}

type boardData struct {
	Batch  projections.SelectionBatchRecord
	Stages []stageStep
	Next   string // the stage the batch would advance to, "" at the end
	Path   string
	// Stream is the batch's event stream, whose timeline the ministry and
	// auditors read.
	Stream string
}

type stageStep struct {
	Name          string
	Done, Current bool
}

// boardPage is the stage board: where the batch stands and what ministry staff
// may do next.
func (s *Server) boardPage(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pageBatch(r)
	if err != nil {
		return err
	}
	withholdObjectors(principal(r.Context()), b.Objections)
	d := boardData{Batch: b, Path: batchPath(b.BatchID), Stream: selection.SelectionBatchStream(b.BatchID)}
	order := []selection.Stage{selection.StageRecommendation, selection.StageQualification, selection.StageExpertReview,
		selection.StageNotice, selection.StagePublished}
	at := slices.Index(order, b.Stage)
	for i, st := range order {
		d.Stages = append(d.Stages, stageStep{Name: stageNames[st], Done: i < at, Current: i == at})
	}
	// The notice ends by publication, not by advancing.
	if next := b.Stage.Next(); next != "" && next != b.Stage && b.Stage != selection.StageNotice {
		d.Next = stageNames[next]
	}
	return s.render(w, r, http.StatusOK, "batch_board.html", pageData{Title: "遴选批次 " + b.BatchID + " 阶段看板", Data: d})
}

// batchArg builds a workflow command from a posted form: the update's name,
// its argument and what to tell the user once it is done.
type batchArg func(r *http.Request, b projections.SelectionBatchRecord) (name string, arg any, done string, err error)

// postBatchCommand sends a posted form's command to the batch's workflow, the
// same update the JSON API sends, then shows the board (or the page the form
// names in "back") once the read model has caught up.
func (s *Server) postBatchCommand(arg batchArg) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.pageBatch(r)
		if err != nil {
			return err
		}
		name, a, done, err := arg(r, b)
		if err == nil {
			err = s.batchUpdate(r, name, a, nil)
		}
		if err != nil {
			if errs, ok := fieldErrors(err); ok {
				msg := ""
				for f, m := range errs {
					msg = m
					if f != "" {
						msg += "（" + f + "）"
					}
				}
				return &httpError{status: http.StatusUnprocessableEntity, message: msg, detail: err.Error()}
			}
			return err
		}
		s.awaitReadModel(r, func() bool {
			now, err := projections.GetSelectionBatch(r.Context(), s.pool, b.BatchID)
			return err == nil && now.Version > b.Version
		})
		back := batchPath(b.BatchID)
		if t := r.PostFormValue("back"); strings.HasPrefix(t, back) {
			back = t
		}
		return redirectOK(w, r, back, done)
	}
}

func (s *Server) advanceArg(r *http.Request, b projections.SelectionBatchRecord) (string, any, string, error) {
	to := b.Stage.Next()
	return workflows.UpdateAdvanceStage, workflows.AdvanceCommand{From: b.Stage, To: to, Actor: metadata(r.Context())},
		"已进入" + stageNames[to] + "阶段", nil
}

// qualifyArg reads the queue's decisions: outcome_<application> and reason_<application>.
func qualifyArg(r *http.Request, b projections.SelectionBatchRecord) (string, any, string, error) {
	if err := r.ParseForm(); err != nil {
		return "", nil, "", badRequest("", "无法读取表单", err.Error())
	}
	var ds []selection.QualificationDecision
	for _, a := range b.Applications {
		o := r.PostForm.Get("outcome_" + a.ApplicationID)
		if o == "" {
			continue
		}
		ds = append(ds, selection.QualificationDecision{Application: a.ApplicationID, Outcome: selection.Outcome(o),
			Reason: r.PostForm.Get("reason_" + a.ApplicationID)})
	}
	if len(ds) == 0 {
		return "", nil, "", domain.Invalid("decisions", "请至少对一项申报作出审核结论", "no decisions")
	}
	return workflows.UpdateDecideQualification, workflows.QualifyCommand{Decisions: ds, Actor: metadata(r.Context())},
		fmt.Sprintf("已记录 %d 项资格审核结论", len(ds)), nil
}

func (s *Server) qualificationPage(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pageBatch(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "batch_qualification.html", pageData{Title: "资格审核 — " + b.BatchID,
		Data: boardData{Batch: b, Path: batchPath(b.BatchID)}, Print: true})
}

type recommendData struct {
	Batch      projections.SelectionBatchRecord
	Province   string
	Quota      int
	Candidates []projections.ApplicationRecord // the province's submitted applications for the batch's task item
	Ranked     map[string]int                  // application → its rank in the current recommendation
	Path       string
}

// recommendPage is a province's recommendation list with its quota counter.
func (s *Server) recommendPage(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pageBatch(r)
	if err != nil {
		return err
	}
	prov := r.PathValue("province")
	apps, err := projections.ListApplications(r.Context(), s.pool, projections.ApplicationFilter{Province: prov, BatchID: b.BatchID})
	if err != nil {
		return err
	}
	d := recommendData{Batch: b, Province: prov, Quota: b.ProvinceQuotas[prov], Ranked: map[string]int{},
		Path: batchPath(b.BatchID) + "/provinces/" + url.PathEscape(prov) + "/recommend"}
	for _, a := range apps {
		if a.TaskItem == b.TaskItem {
			d.Candidates = append(d.Candidates, a)
		}
	}
	for _, a := range b.Applications {
		if a.Province == prov && !a.Removed {
			d.Ranked[a.ApplicationID] = a.Rank
		}
	}
	return s.render(w, r, http.StatusOK, "batch_recommend.html", pageData{Title: publicProvince(prov) + "组织推荐 — " + b.BatchID, Data: d, Print: true})
}

// recommendFormArg reads the ranks typed beside each application (rank_<id>)
// into the ranked list the API's recommend command takes.
func (s *Server) recommendFormArg(r *http.Request, _ projections.SelectionBatchRecord) (string, any, string, error) {
	if err := r.ParseForm(); err != nil {
		return "", nil, "", badRequest("", "无法读取表单", err.Error())
	}
	type ranked struct {
		id   string
		rank int
	}
	var rs []ranked
	for k, v := range r.PostForm {
		id, ok := strings.CutPrefix(k, "rank_")
		if !ok || strings.TrimSpace(v[0]) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 1 {
			return "", nil, "", domain.Invalid(k, "推荐次序应为正整数", fmt.Sprintf("%s %q is not a positive integer", k, clipText(v[0])))
		}
		rs = append(rs, ranked{id, n})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.id, b.id)
	})
	ids := make([]string, len(rs))
	for i, x := range rs {
		ids[i] = x.id
		// A form field can name any application: the caller must be able to
		// see each one, or it does not exist for them.
		if err := s.decideApplication(r, x.id, policy.ActionRead); err != nil {
			return "", nil, "", err
		}
	}
	return workflows.UpdateRecommendApplications, workflows.RecommendCommand{Province: r.PathValue("province"), Applications: ids,
		Actor: metadata(r.Context())}, fmt.Sprintf("已推荐 %d 项申报", len(ids)), nil
}

type reviewData struct {
	Batch    projections.SelectionBatchRecord
	Rubric   scoring.Rubric
	Assigned []projections.BatchApplicationRecord
	Recused  []recusal // assigned, but barred by a conflict of interest
	Path     string
}

// recusal is an assigned application the expert may not score, and why.
type recusal struct {
	projections.BatchApplicationRecord
	Reasons []string
}

// rubricOf reads the batch's rubric from its opening event: the read model
// does not keep it, and the log is the record.
func (s *Server) rubricOf(r *http.Request, batchID string) (scoring.Rubric, error) {
	evs, err := s.store.ReadStream(r.Context(), selection.SelectionBatchStream(batchID), events.ReadOptions{})
	if err != nil {
		return scoring.Rubric{}, err
	}
	for _, e := range evs {
		if e.Type == selection.TypeSelectionBatchOpened {
			o, err := events.DecodeAs[selection.SelectionBatchOpened](eventtypes.Registry, e)
			if err != nil {
				return scoring.Rubric{}, err
			}
			return o.Rubric, nil
		}
	}
	return scoring.Rubric{}, notFound("遴选批次不存在", "batch "+batchID+" has no opening")
}

// reviewPage is an expert's review form: only the applications assigned to
// them, never one they declared a conflict with (the policy decides each).
func (s *Server) reviewPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderReview(w, r, http.StatusOK, nil)
}

func (s *Server) renderReview(w http.ResponseWriter, r *http.Request, status int, errs map[string]string) error {
	b, err := s.pageBatch(r)
	if err != nil {
		return err
	}
	rub, err := s.rubricOf(r, b.BatchID)
	if err != nil {
		return err
	}
	p := principal(r.Context())
	reviews, conflicts, err := s.reviewResources(r, b.Applications)
	if err != nil {
		return err
	}
	d := reviewData{Batch: b, Rubric: rub, Path: batchPath(b.BatchID) + "/review"}
	for _, a := range b.Applications {
		switch {
		case a.Removed:
		case policy.Decide(p, policy.ActionWrite, reviews[a.ApplicationID]) == nil:
			d.Assigned = append(d.Assigned, a)
		case len(conflicts[a.ApplicationID]) > 0:
			rc := recusal{BatchApplicationRecord: a}
			for _, why := range conflicts[a.ApplicationID] {
				rc.Reasons = append(rc.Reasons, why.Zh)
			}
			d.Recused = append(d.Recused, rc)
		}
	}
	return s.render(w, r, status, "batch_review.html", pageData{Title: "专家评审 — " + b.BatchID, Data: d, Errors: errs,
		Error: firstUnplaced(errs)})
}

// postScores reads score_<application>_<criterion> and sends the expert's
// marks through the same path as POST …/scores.
func (s *Server) postScores(w http.ResponseWriter, r *http.Request) error {
	b, err := s.pageBatch(r)
	if err != nil {
		return err
	}
	rub, err := s.rubricOf(r, b.BatchID)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	p := principal(r.Context())
	reviews, _, err := s.reviewResources(r, b.Applications)
	if err != nil {
		return err
	}
	experts := map[string]policy.Resource{}
	for _, a := range b.Applications {
		if !a.Removed {
			experts[a.ApplicationID] = reviews[a.ApplicationID]
		}
	}
	// A form field can name any application: each must be assigned to the
	// caller, without conflict, or it does not exist for them.
	for k := range r.PostForm {
		rest, ok := strings.CutPrefix(k, "score_")
		if !ok {
			continue
		}
		app := ""
		for _, c := range rub.Criteria {
			if id, ok := strings.CutSuffix(rest, "_"+c.Key); ok {
				app = id
			}
		}
		res, ok := experts[app]
		if !ok {
			res = policy.Resource{Kind: policy.KindReview, ID: app}
		}
		if err := policy.Decide(p, policy.ActionWrite, res); err != nil {
			if errors.Is(err, policy.ErrForbidden) && app != "" && !ok {
				err = fmt.Errorf("%w: application %s is not in the batch", policy.ErrNotFound, clipText(app))
			}
			return err
		}
	}
	var scores []selection.ApplicationScores
	for _, a := range b.Applications {
		if a.Removed || policy.Decide(p, policy.ActionWrite, reviews[a.ApplicationID]) != nil {
			continue
		}
		sc := selection.ApplicationScores{Application: a.ApplicationID}
		blank := true
		for _, c := range rub.Criteria {
			field := "score_" + a.ApplicationID + "_" + c.Key
			v := strings.TrimSpace(r.PostForm.Get(field))
			if v == "" {
				sc.Criteria = append(sc.Criteria, 0)
				continue
			}
			blank = false
			n, err := strconv.Atoi(v)
			if err != nil {
				return s.renderReview(w, r, http.StatusUnprocessableEntity, map[string]string{field: "分数应为整数"})
			}
			sc.Criteria = append(sc.Criteria, n)
		}
		if !blank {
			scores = append(scores, sc)
		}
	}
	if len(scores) == 0 {
		return s.renderReview(w, r, http.StatusUnprocessableEntity, map[string]string{"": "请至少为一项申报打分"})
	}
	cmd := workflows.ScoresCommand{Expert: p.UserID, Scores: scores, DeclareNoConflict: r.PostForm.Get("declare_no_conflict") != "",
		Actor: metadata(r.Context())}
	if err := s.batchUpdate(r, workflows.UpdateSubmitScores, cmd, nil); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderReview(w, r, http.StatusUnprocessableEntity, map[string]string{"": firstMessage(errs)})
		}
		return err
	}
	return redirectOK(w, r, batchPath(b.BatchID)+"/review", fmt.Sprintf("已提交 %d 项申报的评分", len(scores)))
}

func firstMessage(errs map[string]string) string {
	for _, m := range errs {
		return m
	}
	return ""
}

// decideApplication asks the policy whether the caller may act on the
// application id names; an unknown id is reported like one out of scope.
func (s *Server) decideApplication(r *http.Request, id string, a policy.Action) error {
	rec, err := projections.GetApplication(r.Context(), s.pool, id)
	if err != nil {
		return notFound("申报不存在", fmt.Sprintf("application %s: %v", clipText(id), err))
	}
	res := applicationOwner(selection.Application{ID: rec.ApplicationID, Province: rec.Province, School: rec.School, Applicant: rec.Applicant}, false)
	return policy.Decide(principal(r.Context()), a, res)
}
