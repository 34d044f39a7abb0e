package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"keytask/domain"
	"keytask/domain/assign"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

// kindSelectionBatch is a selection batch (遴选批次); policy.KindRecommendation is a
// province's recommendation within it.
const (
	kindSelectionBatch policy.Kind = "selection-batch"
)

// selectionBatchRoutes are the batch's commands and its read model.
func (s *Server) selectionBatchRoutes() []Route {
	const (
		read  = policy.ActionRead
		write = policy.ActionWrite
		admin = policy.ActionAdminister
		batch = "/api/v1/selection-batches/{batch}"
	)
	nat := national(kindSelectionBatch)
	cmd := func(name string, arg func(r *http.Request) (any, error)) func(http.ResponseWriter, *http.Request) error {
		return s.batchCommand(name, arg)
	}
	return []Route{
		{Pattern: "POST /api/v1/selection-batches", Action: admin, Resource: nat, handle: s.openSelectionBatch, Request: openSelectionBatchRequest{}},
		{Pattern: "GET " + batch, Action: read, Resource: batchReader, handle: s.getSelectionBatch},
		{Pattern: "POST " + batch + "/provinces/{province}/recommend", Action: write, Resource: provinceRecommendation,
			handle: cmd(workflows.UpdateRecommendApplications, recommendArg), Request: recommendArgBody{}},
		{Pattern: "POST " + batch + "/quota", Action: admin, Resource: nat, handle: cmd(workflows.UpdateRaiseProvinceQuota, decodeArg[workflows.RaiseQuotaCommand]), Request: workflows.RaiseQuotaCommand{}},
		{Pattern: "POST " + batch + "/qualify", Action: admin, Resource: nat, handle: cmd(workflows.UpdateDecideQualification, decodeArg[workflows.QualifyCommand]), Request: workflows.QualifyCommand{}},
		{Pattern: "POST " + batch + "/advance", Action: admin, Resource: nat, handle: cmd(workflows.UpdateAdvanceStage, decodeArg[workflows.AdvanceCommand]), Request: workflows.AdvanceCommand{}},
		{Pattern: "POST " + batch + "/reopen", Action: admin, Resource: nat, handle: cmd(workflows.UpdateReopenStage, decodeArg[workflows.ReopenCommand]), Request: workflows.ReopenCommand{}},
		{Pattern: "POST " + batch + "/extend", Action: admin, Resource: nat, handle: cmd(workflows.UpdateExtendStageDeadline, extendArg), Request: extendArgBody{}},
		{Pattern: "POST " + batch + "/assign", Action: admin, Resource: nat, handle: cmd(workflows.UpdateAssignExperts, emptyArg[workflows.AssignCommand])},
		{Pattern: "POST " + batch + "/rank", Action: admin, Resource: nat, handle: cmd(workflows.UpdateProposeRanking, emptyArg[workflows.RankCommand])},
		{Pattern: "POST " + batch + "/confirm", Action: admin, Resource: nat, handle: cmd(workflows.UpdateConfirmRanking, decodeArg[workflows.ConfirmRankingCommand]), Request: workflows.ConfirmRankingCommand{}},
		{Pattern: "POST " + batch + "/overrule", Action: admin, Resource: nat, handle: cmd(workflows.UpdateOverruleRanking, decodeArg[workflows.OverruleCommand]), Request: workflows.OverruleCommand{}},
		{Pattern: "POST " + batch + "/applications/{id}/consensus", Action: write, Resource: s.applicationReview,
			handle: cmd(workflows.UpdateRecordConsensus, consensusArg), Request: consensusArgBody{}},
		{Pattern: "POST " + batch + "/objections/{objection}/adjudicate", Action: admin, Resource: nat,
			handle: cmd(workflows.UpdateAdjudicateObjection, adjudicateArg), Request: adjudicateArgBody{}},
		{Pattern: "POST " + batch + "/publish", Action: admin, Resource: nat, handle: cmd(workflows.UpdatePublishSelection, emptyArg[workflows.PublishCommand])},
		{Pattern: "POST " + batch + "/scores", Action: write, Resource: s.batchReviews, handle: s.submitScores, Request: submitScoresBody{}},
		{Pattern: "POST " + batch + "/declarations", Action: write, Resource: s.batchReviews, handle: cmd(workflows.UpdateDeclareNoConflict, declareArg), Request: declareArgBody{}},
		{Pattern: "POST " + batch + "/decline", Action: write, Resource: s.batchReviews, handle: cmd(workflows.UpdateDeclineAssignment, declineArg), Request: declineArgBody{}},
		{Pattern: "POST " + batch + "/replace", Action: admin, Resource: nat, handle: cmd(workflows.UpdateReplaceExperts, decodeArg[workflows.ReplaceCommand]), Request: workflows.ReplaceCommand{}},
		{Pattern: "POST " + batch + "/applications/{id}/resubmit", Action: write, Resource: s.applicationResource(true), handle: s.resubmitCorrection},
	}
}

// batchReader: the ministry and auditors read a batch; a province reads it
// too, and the handler shows it only its own recommendations.
func batchReader(r *http.Request, p identity.Principal) (policy.Resource, error) {
	res := policy.Resource{Kind: kindSelectionBatch, ID: r.PathValue("batch")}
	if p.Role == identity.RoleProvince {
		res.Province = p.Organisation
	}
	return res, nil
}

// provinceRecommendation is the recommendation of the province in the path.
func provinceRecommendation(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	p := r.PathValue("province")
	return policy.Resource{Kind: policy.KindRecommendation, ID: r.PathValue("batch") + "/" + p, Province: p}, nil
}

// batchReviews is the batch's expert review as a whole: assigned to every
// expert the batch has assigned. The handler then decides each scored
// application on its own assignment.
func (s *Server) batchReviews(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	res := policy.Resource{Kind: policy.KindReview, ID: r.PathValue("batch")}
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	for _, a := range b.Applications {
		for _, ex := range a.Experts {
			if !slices.Contains(res.Assigned, ex) {
				res.Assigned = append(res.Assigned, ex)
			}
		}
	}
	return res, nil
}

// applicationReview is the review of the application in the path: assigned
// to its panel, so only its experts (and the ministry) record its consensus.
func (s *Server) applicationReview(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	res := policy.Resource{Kind: policy.KindReview, ID: r.PathValue("id")}
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	for _, a := range b.Applications {
		if a.ApplicationID == res.ID {
			res.Assigned = a.Experts
		}
	}
	return res, nil
}

// consensusArg is a panel's consensus; an expert records it as themselves,
// the ministry on the panel's behalf.
// consensusArgBody is what the panel sends when it agrees on marks.
type consensusArgBody struct {
	Criteria  []int  `json:"criteria"`
	Rationale string `json:"rationale"`
}

func consensusArg(r *http.Request) (any, error) {
	var req consensusArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	c := workflows.ConsensusCommand{Application: r.PathValue("id"), Criteria: req.Criteria, Rationale: req.Rationale, Actor: metadata(r.Context())}
	if p := principal(r.Context()); p.Role == identity.RoleExpert {
		c.Expert = p.UserID
	}
	return c, nil
}

type openSelectionBatchRequest struct {
	BatchID              string                    `json:"batch_id"`
	PlanBatchID          string                    `json:"plan_batch_id"`
	TaskItem             string                    `json:"task_item"`
	TaskType             string                    `json:"task_type"`
	Quota                int                       `json:"quota"`
	ProvinceQuotas       map[string]int            `json:"province_quotas"` // refused: quotas come from the filed intents
	QuotaOverrides       []selection.QuotaOverride `json:"quota_overrides"`
	PerApplication       int                       `json:"per_application"`
	NoticeDays           int                       `json:"notice_days"`
	CorrectionWindowDays int                       `json:"correction_window_days"`
	PeriodDays           map[selection.Stage]int   `json:"period_days"`
	Rubric               scoring.Rubric            `json:"rubric"`
	OutlierThreshold     int                       `json:"outlier_threshold"`
	Deadline             string                    `json:"deadline"` // of the recommendation stage
	PassTotal            int                       `json:"pass_total"`
	PassScores           map[string]int            `json:"pass_scores"`
	ConsensusSpread      int                       `json:"consensus_spread"`
}

// openSelectionBatch starts a batch's workflow.
func (s *Server) openSelectionBatch(w http.ResponseWriter, r *http.Request) error {
	if s.tc == nil {
		return unavailable("no Temporal client")
	}
	var req openSelectionBatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	deadline, err := parseDeadline("deadline", req.Deadline)
	if err != nil {
		return err
	}
	if req.CorrectionWindowDays < 0 {
		return domain.Invalid("correction_window_days", "补正期限须为正整数天", "negative correction window")
	}
	o := selection.SelectionBatchOpened{
		BatchID: req.BatchID, PlanBatchID: req.PlanBatchID, TaskItem: req.TaskItem, TaskType: req.TaskType, Quota: req.Quota,
		ProvinceQuotas: req.ProvinceQuotas, PerApplication: req.PerApplication, NoticeDays: req.NoticeDays,
		CorrectionWindow: time.Duration(req.CorrectionWindowDays) * 24 * time.Hour, Rubric: req.Rubric,
		OutlierThreshold: req.OutlierThreshold, Deadline: deadline,
		PassTotal: req.PassTotal, PassScores: req.PassScores, ConsensusSpread: req.ConsensusSpread,
	}
	if len(req.PeriodDays) > 0 {
		o.Periods = map[selection.Stage]time.Duration{}
		for st, d := range req.PeriodDays {
			o.Periods[st] = time.Duration(d) * 24 * time.Hour
		}
	}
	// The plan hands over: the batch's task item, type and quotas come from
	// the plan batch and its filed intent round as the log holds them now,
	// and the opening event records them with any override's reason.
	plan, err := s.app.PlanFacts(ctx, req.PlanBatchID, req.TaskItem)
	if err != nil {
		return err
	}
	if o, err = selection.Plan(o, plan, req.QuotaOverrides); err != nil {
		return err
	}
	// The workflow decides with the same rule; deciding here first answers a
	// bad request with its field and starts nothing.
	if _, _, err := selection.OpenBatch(o, s.batchNow()); err != nil {
		return err
	}
	wid := workflows.SelectionBatchWorkflowID(o.BatchID)
	taken := domain.Conflict("batch_id", "该遴选批次编号已被使用，请换一个编号", "batch "+wid+" exists")
	if v, err := s.store.StreamVersion(ctx, selection.SelectionBatchStream(o.BatchID)); err != nil {
		return err
	} else if v > 0 {
		return taken
	}
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       wid,
		TaskQueue:                                temporalx.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.SelectionBatchWorkflowName, workflows.SelectionBatchParams{Batch: o, Actor: meta})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return taken
	}
	if err != nil {
		return fmt.Errorf("start selection batch %s: %w", o.BatchID, err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"batch_id": o.BatchID, "workflow_id": wid, "run_id": run.GetRunID(),
		"stage": selection.StageRecommendation, "deadline": deadline, "task_type": o.TaskType, "intent_round": o.IntentRound,
		"province_quotas": o.ProvinceQuotas, "quota_overrides": o.QuotaOverrides})
	return nil
}

// getSelectionBatch answers the batch's read model. Objectors' names and
// contacts are shown to ministry staff only; a province sees only its own
// recommendations and no objections.
func (s *Server) getSelectionBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) {
		return notFound("遴选批次不存在", err.Error())
	}
	if err != nil {
		return err
	}
	p := principal(r.Context())
	withholdObjectors(p, b.Objections)
	if p.Role == identity.RoleProvince {
		own := b.Applications[:0]
		for _, a := range b.Applications {
			if a.Province == p.Organisation {
				own = append(own, a)
			}
		}
		b.Applications, b.Objections = own, []projections.BatchObjectionRecord{}
		b.ProvinceQuotas = map[string]int{p.Organisation: b.ProvinceQuotas[p.Organisation]}
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// batchCommand decodes a command with arg, stamps the actor and sends it.
func (s *Server) batchCommand(name string, arg func(r *http.Request) (any, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		a, err := arg(withBody(w, r))
		if err != nil {
			return err
		}
		var result any
		if err := s.batchUpdate(r, name, a, &result); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"batch_id": r.PathValue("batch"), "update": name, "result": result})
		return nil
	}
}

// bodyWriter lets arg functions decode with the response writer's body limit.
type bodyWriterKey struct{}

func withBody(w http.ResponseWriter, r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), bodyWriterKey{}, w))
}

func bodyWriter(r *http.Request) http.ResponseWriter {
	w, _ := r.Context().Value(bodyWriterKey{}).(http.ResponseWriter)
	return w
}

func decodeArg[T any](r *http.Request) (any, error) {
	var c T
	if err := decodeJSON(bodyWriter(r), r, &c); err != nil {
		return nil, err
	}
	return stampActor(&c, metadata(r.Context())), nil
}

// emptyArg is a command without a body.
func emptyArg[T any](r *http.Request) (any, error) {
	var c T
	return stampActor(&c, metadata(r.Context())), nil
}

func recommendArg(r *http.Request) (any, error) {
	var req recommendArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	return workflows.RecommendCommand{Province: r.PathValue("province"), Applications: req.Applications, Reasons: req.Reasons,
		Actor: metadata(r.Context())}, nil
}

func extendArg(r *http.Request) (any, error) {
	var req extendArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	t, err := parseDeadline("deadline", req.Deadline)
	if err != nil {
		return nil, err
	}
	return workflows.ExtendStageCommand{Stage: req.Stage, Deadline: t, Actor: metadata(r.Context())}, nil
}

func adjudicateArg(r *http.Request) (any, error) {
	var req adjudicateArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	return workflows.AdjudicateCommand{ObjectionID: r.PathValue("objection"), Outcome: req.Outcome, Reason: req.Reason,
		Actor: metadata(r.Context())}, nil
}

// stampActor sets the command's Actor to the caller, whatever the body said.
// declareArg is the signed-in expert's declaration of no conflict with the
// applications named.
func declareArg(r *http.Request) (any, error) {
	var req declareArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	return workflows.DeclareNoConflictCommand{Expert: principal(r.Context()).UserID, Applications: req.Applications, Actor: metadata(r.Context())}, nil
}

// declineArg is the signed-in expert declining one application, with a reason.
func declineArg(r *http.Request) (any, error) {
	var req declineArgBody
	if err := decodeJSON(bodyWriter(r), r, &req); err != nil {
		return nil, err
	}
	return workflows.DeclineCommand{Expert: principal(r.Context()).UserID, Application: req.Application, Reason: req.Reason,
		Conflict: req.Conflict, Actor: metadata(r.Context())}, nil
}

func stampActor(c any, md events.Metadata) any {
	switch v := c.(type) {
	case *workflows.ReplaceCommand:
		v.Actor = md
		return *v
	case *workflows.RaiseQuotaCommand:
		v.Actor = md
		return *v
	case *workflows.QualifyCommand:
		v.Actor = md
		return *v
	case *workflows.AdvanceCommand:
		v.Actor = md
		return *v
	case *workflows.ReopenCommand:
		v.Actor = md
		return *v
	case *workflows.AssignCommand:
		v.Actor = md
		return *v
	case *workflows.RankCommand:
		v.Actor = md
		return *v
	case *workflows.ConfirmRankingCommand:
		v.Actor = md
		return *v
	case *workflows.PublishCommand:
		v.Actor = md
		return *v
	case *workflows.OverruleCommand:
		v.Actor = md
		return *v
	}
	panic(fmt.Sprintf("api: no actor for %T", c))
}

// reviewResources describes each of the batch's applications for the policy
// as the caller would review it: its assigned experts and, for an expert, the
// conflicts of interest their record declares now, read from the log, so that
// a conflict declared after the assignment bars the expert at once. The
// conflicts come back by application for the caller to explain.
func (s *Server) reviewResources(r *http.Request, apps []projections.BatchApplicationRecord) (map[string]policy.Resource, map[string][]assign.Reason, error) {
	p := principal(r.Context())
	out := make(map[string]policy.Resource, len(apps))
	var mine []string
	for _, a := range apps {
		out[a.ApplicationID] = policy.Resource{Kind: policy.KindReview, ID: a.ApplicationID, Assigned: a.Experts}
		if p.Role == identity.RoleExpert && slices.Contains(a.Experts, p.UserID) {
			mine = append(mine, a.ApplicationID)
		}
	}
	if len(mine) == 0 {
		return out, nil, nil
	}
	conflicts, err := s.app.ReviewConflicts(r.Context(), p.UserID, mine)
	if err != nil {
		return nil, nil, err
	}
	for id := range conflicts {
		res := out[id]
		res.Conflicts = []string{p.UserID}
		out[id] = res
	}
	return out, conflicts, nil
}

// submitScores sends an expert's marks, each for an application assigned to them.
func (s *Server) submitScores(w http.ResponseWriter, r *http.Request) error {
	var req submitScoresBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p := principal(r.Context())
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) {
		return notFound("遴选批次不存在", err.Error())
	}
	if err != nil {
		return err
	}
	reviews, conflicts, err := s.reviewResources(r, b.Applications)
	if err != nil {
		return err
	}
	for i, sc := range req.Scores {
		res, ok := reviews[sc.Application]
		if !ok {
			res = policy.Resource{Kind: policy.KindReview, ID: sc.Application}
		}
		if err := policy.Decide(p, policy.ActionWrite, res); err != nil {
			field := fmt.Sprintf("scores[%d].application", i)
			if rs := conflicts[sc.Application]; len(rs) > 0 {
				return domain.Invalid(field, fmt.Sprintf("您与申报“%s”须回避（%s），不能评分", clipText(sc.Application), rs[0].Zh), err.Error()+": "+rs[0].En)
			}
			if errors.Is(err, policy.ErrNotFound) {
				return domain.Invalid(field, fmt.Sprintf("申报“%s”未分配给您评审", clipText(sc.Application)), err.Error())
			}
			return err
		}
	}
	cmd := workflows.ScoresCommand{Expert: p.UserID, Scores: req.Scores, DeclareNoConflict: req.DeclareNoConflict, Actor: metadata(r.Context())}
	if err := s.batchUpdate(r, workflows.UpdateSubmitScores, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch_id": r.PathValue("batch"), "expert": p.UserID, "scores": len(req.Scores)})
	return nil
}

// batchUpdate sends a command to the batch's workflow; a batch whose workflow
// no longer runs has ended.
func (s *Server) batchUpdate(r *http.Request, name string, arg, result any) error {
	batchID := r.PathValue("batch")
	return s.processUpdate(r, workflows.SelectionBatchWorkflowID(batchID), name, arg, result, processGone{
		id: "batch " + batchID, ended: "本遴选批次已结束，不再受理", missing: "遴选批次不存在",
		known: func() error { _, err := projections.GetSelectionBatch(r.Context(), s.pool, batchID); return err },
	})
}

// resubmitCorrection brings an application that qualification review returned,
// and that its applicant has corrected and submitted again, back to the batch
// for a new decision. Only the applicant may; the batch refuses one it did not
// return, or after the correction window.
func (s *Server) resubmitCorrection(w http.ResponseWriter, r *http.Request) error {
	a, err := s.loadApplication(r)
	if err != nil {
		return err
	}
	if a.BatchID != r.PathValue("batch") {
		return notFound("该申报不属于本遴选批次", fmt.Sprintf("application %s is in batch %s", a.ID, a.BatchID))
	}
	cmd := workflows.ResubmitCommand{Application: a.ID, Actor: metadata(r.Context())}
	if err := s.batchUpdate(r, workflows.UpdateResubmitCorrection, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch_id": a.BatchID, "application_id": a.ID, "stage": selection.StageQualification})
	return nil
}

// recommendArgBody is the body recommendArg decodes.
type recommendArgBody struct {
	Applications []string          `json:"applications"`
	Reasons      map[string]string `json:"reasons"` // by application: a school outside the filed 实施单位
}

// extendArgBody is the body extendArg decodes.
type extendArgBody struct {
	Stage    selection.Stage `json:"stage"`
	Deadline string          `json:"deadline"`
}

// adjudicateArgBody is the body adjudicateArg decodes.
type adjudicateArgBody struct {
	Outcome selection.Adjudication `json:"outcome"`
	Reason  string                 `json:"reason"`
}

// submitScoresBody is the body submitScores decodes.
type submitScoresBody struct {
	Scores []selection.ApplicationScores `json:"scores"`
	// DeclareNoConflict signs the declaration of no conflict with each
	// scored application not yet declared.
	DeclareNoConflict bool `json:"declare_no_conflict"`
}

// declareArgBody is an expert signing the declaration of no conflict for
// applications assigned to them.
type declareArgBody struct {
	Applications []string `json:"applications"`
}

// declineArgBody is an expert declining one assignment, with a reason.
type declineArgBody struct {
	Application string `json:"application"`
	Reason      string `json:"reason"`
	Conflict    bool   `json:"conflict"`
}
