package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/domain"
	"keytask/domain/assign"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// selectionChunk bounds how many applications one event of a batched append
// covers, so no single event grows with the batch.
const selectionChunk = 200

// SelectionStep is what every batched selection activity needs to append
// idempotently: the batch stream at its expected version, and the workflow id
// and step prefix its event ids derive from (as workflows.EventID does).
type SelectionStep struct {
	Stream     string          `json:"stream"`
	Expected   int64           `json:"expected"`
	WorkflowID string          `json:"workflow_id"`
	Step       string          `json:"step"`
	Metadata   events.Metadata `json:"metadata"`
}

func (s SelectionStep) spec(n int, typ string, data any) (EventSpec, error) {
	return s.specID(events.DeriveID("workflow", s.WorkflowID, fmt.Sprintf("%s/%d", s.Step, n)).String(), typ, data)
}

func (s SelectionStep) specID(id, typ string, data any) (EventSpec, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return EventSpec{}, temporal.NewNonRetryableApplicationError("encode "+typ, "BadAppend", err)
	}
	return EventSpec{ID: id, Type: typ, SchemaVersion: 1, Data: b, Metadata: s.Metadata}, nil
}

// AssignExpertsRequest asks for experts for Applications, on top of the loads
// UsedLoads already takes from each expert.
type AssignExpertsRequest struct {
	SelectionStep
	Round          int            `json:"round"`
	PerApplication int            `json:"per_application"`
	Applications   []string       `json:"applications"`
	UsedLoads      map[string]int `json:"used_loads,omitempty"`
	// AsOf is the day conflicts are judged on (former employers): the
	// workflow's time of the command.
	AsOf time.Time `json:"as_of,omitzero"`
}

// AssignExpertsResult is compact: application → experts, for the workflow's
// state; the explanations are only in the log.
type AssignExpertsResult struct {
	Assignments []selection.ExpertAssignment `json:"assignments"`
	TotalLevel  int                          `json:"total_level"`
	Version     int64                        `json:"version"`
}

// InfeasibleErrorType is the application error type of an expert pool that
// cannot staff the batch; its detail is the *assign.InfeasibleError.
const InfeasibleErrorType = "AssignmentInfeasible"

// AssignSelectionExperts reads the applications and the expert pool from the
// log, runs the solver, and appends ExpertsAssigned in chunks, all in one
// transaction-sized append so a batch is staffed entirely or not at all.
func (a *Activities) AssignSelectionExperts(ctx context.Context, req AssignExpertsRequest) (AssignExpertsResult, error) {
	apps, err := a.selectionApplications(ctx, req.Applications)
	if err != nil {
		return AssignExpertsResult{}, err
	}
	experts, err := a.expertPool(ctx)
	if err != nil {
		return AssignExpertsResult{}, err
	}
	// An expert's load spans every open batch: what the other open batches
	// give them now, read from the log at this decision, counts too.
	elsewhere, err := a.OpenBatchLoads(ctx, req.Stream)
	if err != nil {
		return AssignExpertsResult{}, err
	}
	for i := range experts {
		experts[i].Load = max(0, experts[i].Load-req.UsedLoads[experts[i].ID]-elsewhere[experts[i].ID])
	}
	res, err := assign.Assign(assign.Problem{Applications: apps, Experts: experts, PerApplication: req.PerApplication, AsOf: req.AsOf})
	if err != nil {
		if ie, ok := err.(*assign.InfeasibleError); ok {
			return AssignExpertsResult{}, temporal.NewNonRetryableApplicationError(ie.Message, InfeasibleErrorType, err, ie)
		}
		return AssignExpertsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadAssignment", err)
	}
	byApp := map[string]*selection.ExpertAssignment{}
	why := map[string][]string{}
	out := AssignExpertsResult{TotalLevel: res.TotalLevel}
	for _, as := range res.Assignments {
		e, ok := byApp[as.Application]
		if !ok {
			out.Assignments = append(out.Assignments, selection.ExpertAssignment{Application: as.Application})
			e = &out.Assignments[len(out.Assignments)-1]
			byApp[as.Application] = e
		}
		e.Experts = append(e.Experts, as.Expert)
		why[as.Application] = append(why[as.Application], as.Zh)
	}
	slices.SortFunc(out.Assignments, func(x, y selection.ExpertAssignment) int { return compare(x.Application, y.Application) })
	var specs []EventSpec
	for i := 0; i < len(out.Assignments); i += selectionChunk {
		chunk := out.Assignments[i:min(i+selectionChunk, len(out.Assignments))]
		ev := selection.ExpertsAssigned{Round: req.Round, Assignments: chunk}
		for _, c := range chunk {
			ev.Explanations = append(ev.Explanations, why[c.Application])
		}
		spec, err := req.spec(len(specs), selection.TypeExpertsAssigned, ev)
		if err != nil {
			return AssignExpertsResult{}, err
		}
		specs = append(specs, spec)
	}
	rec, err := a.Append(ctx, AppendRequest{Stream: req.Stream, Expected: req.Expected, Events: specs})
	if err != nil {
		return AssignExpertsResult{}, err
	}
	out.Version = rec.Versions[len(rec.Versions)-1]
	return out, nil
}

// OpenBatchLoads counts, by expert, the applications they review now in every
// selection batch not yet published, except the one in stream own. It reads
// the assignments and replacements from the log, so a decision made in one
// batch sees what another recorded a moment before.
func (a *Activities) OpenBatchLoads(ctx context.Context, own string) (map[string]int, error) {
	rows, err := a.Store.Pool().Query(ctx, `SELECT stream_id, type, schema_version, id, data::text FROM events e
		WHERE type = ANY($1) AND stream_id LIKE 'selection-batch-%' AND stream_id <> $2
		AND NOT EXISTS (SELECT 1 FROM events p WHERE p.stream_id = e.stream_id AND p.type = $3)
		ORDER BY stream_id, stream_version`,
		[]string{selection.TypeExpertsAssigned, selection.TypeExpertsReplaced}, own, selection.TypeSelectionBatchPublished)
	if err != nil {
		return nil, fmt.Errorf("read open batches' assignments: %w", err)
	}
	defer rows.Close()
	panels := map[string]map[string][]string{} // batch stream → application → experts
	for rows.Next() {
		var stream, data string
		var e events.Event
		if err := rows.Scan(&stream, &e.Type, &e.SchemaVersion, &e.ID, &data); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		payload, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return nil, fmt.Errorf("read open batches' assignments: %w", err)
		}
		if panels[stream] == nil {
			panels[stream] = map[string][]string{}
		}
		selection.ApplyPanels(panels[stream], payload)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, batch := range panels {
		for _, experts := range batch {
			for _, e := range experts {
				out[e]++
			}
		}
	}
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// selectionApplications reads the ApplicationCreated of each id. One query,
// not one per stream: a national batch has thousands.
func (a *Activities) selectionApplications(ctx context.Context, ids []string) ([]assign.Application, error) {
	streams := make([]string, len(ids))
	for i, id := range ids {
		streams[i] = selection.ApplicationStream(id)
	}
	rows, err := a.Store.Pool().Query(ctx, `SELECT data::text FROM events WHERE type = $1 AND stream_id = ANY($2)`,
		selection.TypeApplicationCreated, streams)
	if err != nil {
		return nil, fmt.Errorf("read applications: %w", err)
	}
	defer rows.Close()
	found := map[string]assign.Application{}
	for rows.Next() {
		var data string
		var c selection.ApplicationCreated
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("decode ApplicationCreated: %w", err)
		}
		found[c.ApplicationID] = assign.Application{ID: c.ApplicationID, TaskType: c.TaskType, School: c.School,
			Province: c.Province, Alliances: c.Alliances}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The member schools are in the latest content, which the school may
	// have edited since creating the application.
	rows, err = a.Store.Pool().Query(ctx, `SELECT DISTINCT ON (stream_id) data::text FROM events
		WHERE type = $1 AND stream_id = ANY($2) ORDER BY stream_id, stream_version DESC`, selection.TypeApplicationEdited, streams)
	if err != nil {
		return nil, fmt.Errorf("read application content: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var data string
		var e selection.ApplicationEdited
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("decode ApplicationEdited: %w", err)
		}
		if app, ok := found[e.ApplicationID]; ok {
			app.Members = selection.MemberSchools(app.TaskType, e.Content)
			found[e.ApplicationID] = app
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]assign.Application, 0, len(ids))
	for _, id := range ids {
		app, ok := found[id]
		if !ok {
			return nil, temporal.NewNonRetryableApplicationError("application "+id+" is not in the log", "UnknownApplication", nil)
		}
		out = append(out, app)
	}
	return out, nil
}

// expertPool reads every expert's latest registration.
func (a *Activities) expertPool(ctx context.Context) ([]assign.Expert, error) {
	// Both events carry the whole record; the latest of either is the expert now.
	rows, err := a.Store.Pool().Query(ctx, `SELECT DISTINCT ON (stream_id) id, type, schema_version, data::text FROM events
		WHERE type = ANY($1) ORDER BY stream_id, stream_version DESC`,
		[]string{selection.TypeExpertRegistered, selection.TypeExpertUpdated})
	if err != nil {
		return nil, fmt.Errorf("read expert pool: %w", err)
	}
	defer rows.Close()
	var out []assign.Expert
	for rows.Next() {
		var e events.Event
		var data string
		if err := rows.Scan(&e.ID, &e.Type, &e.SchemaVersion, &data); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		payload, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return nil, fmt.Errorf("read expert pool: %w", err)
		}
		r, ok := selection.ExpertRecord(payload)
		if !ok {
			return nil, fmt.Errorf("read expert pool: %s carries no expert record", e.Type)
		}
		out = append(out, r.AssignExpert())
	}
	return out, rows.Err()
}

// RankSelectionRequest ranks Applications on the latest scores in the batch
// stream.
type RankSelectionRequest struct {
	SelectionStep
	Round            int            `json:"round"`
	Rubric           scoring.Rubric `json:"rubric"`
	Quota            int            `json:"quota"`
	OutlierThreshold int            `json:"outlier_threshold"`
	Applications     []string       `json:"applications"`
	PassTotal        int            `json:"pass_total,omitempty"`
	PassCriteria     []int          `json:"pass_criteria,omitempty"`
	ConsensusSpread  int            `json:"consensus_spread,omitempty"`
}

// ConsensusRequiredErrorType is the application error type of a ranking
// refused while a panel that disagrees has recorded no consensus; its message
// names the applications, for the ministry.
const ConsensusRequiredErrorType = "ConsensusRequired"

// RankSelectionResult is the proposal in brief; the full ranking is in the log.
type RankSelectionResult struct {
	Selected []string     `json:"selected"`
	Cut      *scoring.Cut `json:"cut,omitempty"`
	Outliers []string     `json:"outliers,omitempty"`
	Reserve  []string     `json:"reserve,omitempty"` // see selection.RankingProposed
	Vacant   int          `json:"vacant,omitempty"`
	Version  int64        `json:"version"`
}

// RankSelection reads the scores and submission times, ranks with
// scoring.Rank and appends RankingProposed.
func (a *Activities) RankSelection(ctx context.Context, req RankSelectionRequest) (RankSelectionResult, error) {
	evs, err := a.Store.ReadStream(ctx, req.Stream, events.ReadOptions{UpToVersion: req.Expected})
	if err != nil {
		return RankSelectionResult{}, err
	}
	latest := map[string]map[string][]int{}   // application → expert → marks
	agreed := map[string]*scoring.Consensus{} // application → the consensus on its latest scores
	for _, e := range evs {
		switch e.Type {
		case selection.TypeScoresSubmitted:
			s, err := events.DecodeAs[selection.ScoresSubmitted](eventtypes.Registry, e)
			if err != nil {
				return RankSelectionResult{}, err
			}
			for _, sc := range s.Scores {
				if latest[sc.Application] == nil {
					latest[sc.Application] = map[string][]int{}
				}
				latest[sc.Application][s.Expert] = sc.Criteria
				delete(agreed, sc.Application) // agreed on scores that changed
			}
		case selection.TypeConsensusRecorded:
			c, err := events.DecodeAs[selection.ConsensusRecorded](eventtypes.Registry, e)
			if err != nil {
				return RankSelectionResult{}, err
			}
			agreed[c.Application] = &scoring.Consensus{Criteria: c.Criteria, Rationale: c.Rationale}
		}
	}
	submitted, err := a.firstSubmissions(ctx, req.Applications)
	if err != nil {
		return RankSelectionResult{}, err
	}
	apps := make([]scoring.Application, len(req.Applications))
	for i, id := range req.Applications {
		apps[i] = scoring.Application{ID: id, Submitted: submitted[id], Consensus: agreed[id]}
		for _, ex := range slices.Sorted(mapKeys(latest[id])) {
			apps[i].Reviews = append(apps[i].Reviews, scoring.Review{Expert: ex, Scores: scoring.Scores{Criteria: latest[id][ex]}})
		}
	}
	ranking, err := scoring.Rank(req.Rubric, apps, scoring.Options{Quota: req.Quota, OutlierThreshold: req.OutlierThreshold,
		PassTotal: req.PassTotal, PassCriteria: req.PassCriteria, ConsensusSpread: req.ConsensusSpread})
	var ce *domain.ConflictError
	if errors.As(err, &ce) && ce.Field == "consensus" {
		return RankSelectionResult{}, temporal.NewNonRetryableApplicationError(ce.Message, ConsensusRequiredErrorType, err)
	}
	if err != nil {
		return RankSelectionResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadRanking", err)
	}
	out := RankSelectionResult{Cut: ranking.Cut, Vacant: ranking.Vacant}
	for _, r := range ranking.Entries {
		switch {
		case r.Selected:
			out.Selected = append(out.Selected, r.Application)
		case !r.BelowPass && len(out.Reserve) < req.Quota:
			out.Reserve = append(out.Reserve, r.Application)
		}
		if r.Outlier {
			out.Outliers = append(out.Outliers, r.Application)
		}
	}
	spec, err := req.spec(0, selection.TypeRankingProposed, selection.RankingProposed{Round: req.Round, Selected: out.Selected, Ranking: ranking, Reserve: out.Reserve})
	if err != nil {
		return RankSelectionResult{}, err
	}
	rec, err := a.Append(ctx, AppendRequest{Stream: req.Stream, Expected: req.Expected, Events: []EventSpec{spec}})
	if err != nil {
		return RankSelectionResult{}, err
	}
	out.Version = rec.Versions[0]
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// firstSubmissions returns each application's first submission time (tie-break
// rule 4); an application never submitted ranks by the zero time, i.e. first
// among equals, so the query treats it as the log says.
func (a *Activities) firstSubmissions(ctx context.Context, ids []string) (map[string]time.Time, error) {
	streams := make([]string, len(ids))
	for i, id := range ids {
		streams[i] = selection.ApplicationStream(id)
	}
	rows, err := a.Store.Pool().Query(ctx, `SELECT DISTINCT ON (stream_id) data::text FROM events
		WHERE type = $1 AND stream_id = ANY($2) ORDER BY stream_id, stream_version`, selection.TypeApplicationSubmitted, streams)
	if err != nil {
		return nil, fmt.Errorf("read submissions: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var data string
		var s selection.ApplicationSubmitted
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			return nil, fmt.Errorf("decode ApplicationSubmitted: %w", err)
		}
		out[s.ApplicationID] = s.At
	}
	return out, rows.Err()
}

// PublishSelectionRequest records the final list and one project per entry.
type PublishSelectionRequest struct {
	SelectionStep
	Published selection.SelectionBatchPublished `json:"published"`
	Projects  []selection.ProjectCreated        `json:"projects"`
}

// PublishSelection creates the projects first (each its own stream, id derived
// per project, so a retry appends none twice) and then records the
// publication: the list is never published with a project missing.
func (a *Activities) PublishSelection(ctx context.Context, req PublishSelectionRequest) (AppendResult, error) {
	for i, p := range req.Projects {
		spec, err := req.spec(i+1, selection.TypeProjectCreated, p)
		if err != nil {
			return AppendResult{}, err
		}
		// A retry after a lost reply gets the original append back: the id is the same.
		if _, err := a.Append(ctx, AppendRequest{Stream: selection.ProjectStream(p.ProjectID), Expected: events.NoStream, Events: []EventSpec{spec}}); err != nil {
			return AppendResult{}, err
		}
	}
	spec, err := req.spec(0, selection.TypeSelectionBatchPublished, req.Published)
	if err != nil {
		return AppendResult{}, err
	}
	return a.Append(ctx, AppendRequest{Stream: req.Stream, Expected: req.Expected, Events: []EventSpec{spec}})
}

// ReplaceExpertsRequest asks the solver to fill Places alone.
type ReplaceExpertsRequest struct {
	SelectionStep
	Round          int                   `json:"round"`
	PerApplication int                   `json:"per_application"`
	Places         []selection.OpenPlace `json:"places"`
	Reason         string                `json:"reason"`
	UsedLoads      map[string]int        `json:"used_loads,omitempty"` // this batch, the leaving places freed
	AsOf           time.Time             `json:"as_of,omitzero"`
}

// ReplaceExpertsResult is the recorded replacement.
type ReplaceExpertsResult struct {
	Replaced selection.ExpertsReplaced `json:"replaced"`
	Version  int64                     `json:"version"`
}

// ReplaceSelectionExperts runs a minimal-change reassignment: the solver
// fills only the places left open, with the experts staying kept and those
// who left barred, within every expert's load across all open batches, and
// appends ExpertsReplaced with each choice's explanation.
func (a *Activities) ReplaceSelectionExperts(ctx context.Context, req ReplaceExpertsRequest) (ReplaceExpertsResult, error) {
	ids := make([]string, len(req.Places))
	for i, p := range req.Places {
		ids[i] = p.Application
	}
	apps, err := a.selectionApplications(ctx, ids)
	if err != nil {
		return ReplaceExpertsResult{}, err
	}
	for i, p := range req.Places {
		apps[i].Panel, apps[i].Barred = p.Staying, p.Barred
	}
	experts, err := a.expertPool(ctx)
	if err != nil {
		return ReplaceExpertsResult{}, err
	}
	elsewhere, err := a.OpenBatchLoads(ctx, req.Stream)
	if err != nil {
		return ReplaceExpertsResult{}, err
	}
	for i := range experts {
		experts[i].Load = max(0, experts[i].Load-req.UsedLoads[experts[i].ID]-elsewhere[experts[i].ID])
	}
	res, err := assign.Assign(assign.Problem{Applications: apps, Experts: experts, PerApplication: req.PerApplication, AsOf: req.AsOf})
	if err != nil {
		if ie, ok := err.(*assign.InfeasibleError); ok {
			return ReplaceExpertsResult{}, temporal.NewNonRetryableApplicationError(ie.Message, InfeasibleErrorType, err, ie)
		}
		return ReplaceExpertsResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadAssignment", err)
	}
	// The new experts take the leaving ones' places in id order on both sides.
	chosen := map[string][]assign.Assignment{}
	for _, as := range res.Assignments {
		chosen[as.Application] = append(chosen[as.Application], as)
	}
	out := selection.ExpertsReplaced{Round: req.Round, Reason: req.Reason}
	for _, p := range req.Places {
		for j, leaving := range p.Leaving {
			as := chosen[p.Application][j]
			out.Replacements = append(out.Replacements, selection.ExpertReplacement{Application: p.Application, Expert: leaving,
				Replacement: as.Expert, Explanation: as.Zh})
		}
	}
	spec, err := req.spec(0, selection.TypeExpertsReplaced, out)
	if err != nil {
		return ReplaceExpertsResult{}, err
	}
	rec, err := a.Append(ctx, AppendRequest{Stream: req.Stream, Expected: req.Expected, Events: []EventSpec{spec}})
	if err != nil {
		return ReplaceExpertsResult{}, err
	}
	return ReplaceExpertsResult{Replaced: out, Version: rec.Versions[0]}, nil
}
