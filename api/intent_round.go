package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/projections"
	"keytask/temporalx"
	"keytask/workflows"
)

type openRoundRequest struct {
	RoundID         string   `json:"round_id"`
	BatchID         string   `json:"batch_id"`
	Deadline        string   `json:"deadline"`         // RFC 3339, or Beijing time "2022-06-15 18:00"
	ReminderOffsets []string `json:"reminder_offsets"` // before the deadline: "168h", "72h", "24h" or "7d"
}

// memoIdempotencyKey is the memo field that remembers which request started a
// round, so that its retry is answered as a replay rather than a conflict.
const memoIdempotencyKey = "idempotency_key"

// openIntentRound starts a round's workflow on the batch's catalogue as the
// plan read model holds it, for every province. The workflow records the
// opening; the round's read models follow a moment later.
func (s *Server) openIntentRound(w http.ResponseWriter, r *http.Request) error {
	if s.tc == nil {
		return unavailable("no Temporal client")
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req openRoundRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	if err := intent.ValidateRoundID(req.RoundID); err != nil {
		return err
	}
	if err := intent.ValidateBatchID(req.BatchID); err != nil {
		return err
	}
	deadline, err := parseDeadline("deadline", req.Deadline)
	if err != nil {
		return err
	}
	offsets := make([]time.Duration, len(req.ReminderOffsets))
	for i, o := range req.ReminderOffsets {
		if offsets[i], err = parseOffset(fmt.Sprintf("reminder_offsets[%d]", i), o); err != nil {
			return err
		}
	}
	batch, err := projections.GetPlanBatch(ctx, s.pool, req.BatchID)
	if errors.Is(err, projections.ErrPlanBatchNotFound) {
		return domain.Invalid("batch_id", "任务批次不存在，请先建立批次及其任务目录", err.Error())
	}
	if err != nil {
		return err
	}
	params := workflows.IntentRoundParams{
		RoundID: req.RoundID, BatchID: req.BatchID, Items: batch.Items,
		Provinces: slices.Sorted(maps.Keys(identity.Provinces)),
		Deadline:  deadline, ReminderOffsets: offsets, Actor: meta,
	}
	// The workflow decides the opening with the same rule; deciding it here
	// first answers a bad request with its field and starts nothing.
	if _, _, err := intent.OpenRound(intent.IntentRoundOpened{
		RoundID: params.RoundID, BatchID: params.BatchID, Items: params.Items, Provinces: params.Provinces,
		Deadline: params.Deadline, ReminderOffsets: params.ReminderOffsets,
	}, time.Now()); err != nil {
		return err
	}
	scopedKey := ""
	if key != "" {
		scopedKey = meta.ActorID + "/" + key
	}
	wid := workflows.IntentRoundWorkflowID(req.RoundID)
	res := map[string]any{
		"round_id": req.RoundID, "batch_id": req.BatchID, "workflow_id": wid, "deadline": deadline,
		"reminder_offsets": offsetStrings(offsets), "items": len(batch.Items), "provinces": len(params.Provinces),
	}
	// Event ids derive from the workflow id, so a round id is never reused,
	// even after Temporal has forgotten the workflow.
	if v, err := s.store.StreamVersion(ctx, intent.RoundStream(req.RoundID)); err != nil {
		return err
	} else if v > 0 {
		return s.roundTaken(ctx, w, wid, scopedKey, res)
	}
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       wid,
		TaskQueue:                temporalx.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// Without it the SDK answers a start of a running id with that run, as
		// if this request had started it.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo:                                     map[string]any{memoIdempotencyKey: scopedKey},
	}, workflows.IntentRoundWorkflowName, params)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return s.roundTaken(ctx, w, wid, scopedKey, res)
	}
	if err != nil {
		return fmt.Errorf("start round %s: %w", req.RoundID, err)
	}
	res["run_id"] = run.GetRunID()
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// roundTaken answers a start whose round id is taken: a replay when the same
// caller's same Idempotency-Key started it, a conflict otherwise.
func (s *Server) roundTaken(ctx context.Context, w http.ResponseWriter, wid, scopedKey string, res map[string]any) error {
	taken := domain.Conflict("round_id", "该轮次编号已被使用，请换一个编号", "round "+wid+" exists")
	if scopedKey == "" {
		return taken
	}
	d, err := s.tc.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return taken
	}
	if err != nil {
		return err
	}
	var was string
	if p := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[memoIdempotencyKey]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &was); err != nil {
			return err
		}
	}
	if was != scopedKey {
		return taken
	}
	res["run_id"] = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	res["replayed"] = true
	writeJSON(w, http.StatusOK, res)
	return nil
}

func offsetStrings(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

// update sends a command to the round's workflow; a round whose workflow no
// longer runs has ended.
func (s *Server) update(r *http.Request, name string, arg, result any) error {
	roundID := r.PathValue("round")
	return s.processUpdate(r, workflows.IntentRoundWorkflowID(roundID), name, arg, result, processGone{
		id: "round " + roundID, ended: "本轮承接意向已结束，不再受理", missing: "承接意向轮次不存在",
		known: func() error { _, err := projections.GetRound(r.Context(), s.pool, roundID); return err },
	})
}

// formResultView is what saving or submitting answers.
type formResultView struct {
	RoundID  string        `json:"round_id"`
	Province string        `json:"province"`
	Status   intent.Status `json:"status"`
	Version  int64         `json:"version"`
	Form     formDocView   `json:"form"`
}

func (s *Server) formCommand(w http.ResponseWriter, r *http.Request, name string, status intent.Status) error {
	var in intent.FormInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	schools, err := s.schoolsNamed(r.Context(), in)
	if err != nil {
		return err
	}
	cmd := workflows.FormCommand{Province: r.PathValue("province"), Input: in, Schools: schools, Actor: metadata(r.Context())}
	var res workflows.FormResult
	if err := s.update(r, name, cmd, &res); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, formResultView{RoundID: r.PathValue("round"), Province: cmd.Province, Status: status,
		Version: res.Version, Form: formDoc(res.Form)})
	return nil
}

// maxUnitCodes bounds the distinct schools one form names as 实施单位.
const maxUnitCodes = 2000

// schoolsNamed reads from the school register what it holds for the schools
// a form names as 实施单位, so that the round decides on them (the workflow
// reads no database). The register is read from the log, never from a read
// model that may trail it (DESIGN.md rule 11). Without a register no school
// is known, and a form naming one is refused.
func (s *Server) schoolsNamed(ctx context.Context, in intent.FormInput) (map[string]intent.School, error) {
	codes := intent.UnitCodes(in)
	if len(codes) == 0 {
		return nil, nil
	}
	// Each code is one stream read; a province has a few hundred schools.
	if len(codes) > maxUnitCodes {
		return nil, domain.Invalid("lines", fmt.Sprintf("一张意向表的实施单位合计不能超过 %d 所学校", maxUnitCodes),
			fmt.Sprintf("%d distinct unit codes, more than %d", len(codes), maxUnitCodes))
	}
	if s.schoolRegister == nil {
		return map[string]intent.School{}, nil
	}
	return s.schoolRegister(ctx, codes)
}

func (s *Server) saveIntentDraft(w http.ResponseWriter, r *http.Request) error {
	return s.formCommand(w, r, workflows.UpdateSaveIntentDraft, intent.StatusDraft)
}

func (s *Server) submitIntent(w http.ResponseWriter, r *http.Request) error {
	return s.formCommand(w, r, workflows.UpdateSubmitIntent, intent.StatusSubmitted)
}

func (s *Server) returnIntent(w http.ResponseWriter, r *http.Request) error {
	var req returnIntentBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cmd := workflows.ReturnCommand{Province: r.PathValue("province"), Reason: req.Reason, Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateReturnIntent, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "province": cmd.Province,
		"status": intent.StatusReturned, "reason": cmd.Reason})
	return nil
}

func (s *Server) extendProvince(w http.ResponseWriter, r *http.Request) error {
	var req extendProvinceBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	deadline, err := parseDeadline("deadline", req.Deadline)
	if err != nil {
		return err
	}
	cmd := workflows.ExtendCommand{Province: r.PathValue("province"), Deadline: deadline, Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateExtendProvince, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "province": cmd.Province, "extension": deadline})
	return nil
}

// fileIntentRound files the closed round (汇总备案). It takes no body.
func (s *Server) fileIntentRound(w http.ResponseWriter, r *http.Request) error {
	if err := s.update(r, workflows.UpdateFileIntentRound, workflows.FileCommand{Actor: metadata(r.Context())}, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "stage": intent.StageFiled})
	return nil
}

func (s *Server) recordFeedback(w http.ResponseWriter, r *http.Request) error {
	var req recordFeedbackBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cmd := workflows.FeedbackCommand{Province: r.PathValue("province"), Text: req.Text, Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateRecordFeedback, cmd, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "province": cmd.Province, "text": cmd.Text})
	return nil
}

// returnIntentBody is the body returnIntent decodes.
type returnIntentBody struct {
	Reason string `json:"reason"`
}

// extendProvinceBody is the body extendProvince decodes.
type extendProvinceBody struct {
	Deadline string `json:"deadline"`
}

// recordFeedbackBody is the body recordFeedback decodes.
type recordFeedbackBody struct {
	Text string `json:"text"`
}
