package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"keytask/domain/identity"
	"keytask/domain/privacy"
	"keytask/domain/scoring"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// Errors of Explain.
var (
	// ErrNotPublished: the batch has not published its result (or does not exist).
	ErrNotPublished = errors.New("selection batch not published")
	// ErrNotRanked: the application never took part in the batch's ranking.
	ErrNotRanked = errors.New("application not ranked in this batch")
)

// Explanation says why a published selection result came out as it did for one
// application, derived from the batch's events alone: the scores each expert
// gave, why each expert was assigned, where the ranking put it and which rule
// decided its place (the tie-break), how the quota line fell, the objections
// against it and how they were decided, and its place on the published list.
type Explanation struct {
	BatchID     string    `json:"batch_id"`
	Application string    `json:"application"`
	TaskType    string    `json:"task_type"`
	Quota       int       `json:"quota"`
	Criteria    []string  `json:"criteria"` // the rubric's criteria, by name, in order
	PublishedAt time.Time `json:"published_at"`
	// Published reports whether the application is on the published list, at
	// PublishedRank (1-based).
	Published     bool `json:"published"`
	PublishedRank int  `json:"published_rank,omitempty"`

	Qualification []selection.QualificationDecision `json:"qualification"`
	Experts       []ExplainedExpert                 `json:"experts"`
	// Ranking is the application's entry in the ranking the ministry confirmed:
	// its summary (totals, mean, median, lead), rank, the rule that placed it
	// after the one above (DecidedBy, Why) and whether it was above the cut.
	RankingRound int                `json:"ranking_round"`
	Ranking      scoring.Ranked     `json:"ranking"`
	Rules        []scoring.RuleText `json:"rules"`
	// TieBreak is the rule that decided this application's place, in words;
	// empty for the first place.
	TieBreak string `json:"tie_break,omitempty"`
	// Cut is how the quota line fell, when this application is on either side of it.
	Cut        *scoring.Cut         `json:"cut,omitempty"`
	Objections []ExplainedObjection `json:"objections"`
	// Overrules are the ministry's decisions against the confirmed ranking
	// for this application, each with its reason, in order.
	Overrules []ExplainedOverrule `json:"overrules"`
	// MovedUp is set when the application moved up onto the notice (递补)
	// after another was struck out.
	MovedUp *selection.SuccessorNoticed `json:"moved_up,omitempty"`
	// Sources are the log positions of the events this explanation rests on.
	Sources []int64 `json:"sources"`
}

// ExplainedExpert is one assigned expert and what they gave.
type ExplainedExpert struct {
	Expert   string `json:"expert"`
	Why      string `json:"why,omitempty"`      // the assignment's reason, in Chinese
	Criteria []int  `json:"criteria,omitempty"` // the expert's latest marks, in the rubric's order
	Total    string `json:"total,omitempty"`    // the weighted total the ranking used, exact
	Scored   bool   `json:"scored"`
}

// ExplainedOverrule is one ministry decision against the ranking.
type ExplainedOverrule struct {
	Decision string    `json:"decision"` // include or exclude
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
	By       string    `json:"by"`
}

// ExplainedObjection is one objection against the application. The objector's
// name and contact are shown only to those entitled (ministry staff).
type ExplainedObjection struct {
	ObjectionID   string    `json:"objection_id"`
	FiledAt       time.Time `json:"filed_at"`
	Name          string    `json:"name"`
	Contact       string    `json:"contact"`
	Text          string    `json:"text"`
	Outcome       string    `json:"outcome"` // upheld, dismissed, or empty while pending
	Reason        string    `json:"reason,omitempty"`
	AdjudicatedAt time.Time `json:"adjudicated_at,omitzero"`
}

// Explain folds batchID's stream into the explanation of application's result.
// Objectors are shown as package privacy lets viewer see them. Errors: ErrNotPublished,
// ErrNotRanked.
func Explain(ctx context.Context, store *events.Store, batchID, application string, viewer identity.Principal) (Explanation, error) {
	x := Explanation{BatchID: batchID, Application: application}
	evs, err := store.ReadStream(ctx, selection.SelectionBatchStream(batchID), events.ReadOptions{})
	if err != nil {
		return x, err
	}
	var (
		proposals = map[int]selection.RankingProposed{}
		proposalP = map[int]int64{}
		confirmed = -1
		published *selection.SelectionBatchPublished
		assigned  []string
		why       = map[string]string{}
		scores    = map[string][]int{}
		sources   = map[int64]bool{}
		objIndex  = map[string]int{}
		qualified []selection.QualificationDecision
		overrules = map[int][]ExplainedOverrule{} // by ranking round
		overruleP = map[int][]int64{}
	)
	use := func(e events.Event) { sources[e.Position] = true }
	for _, e := range evs {
		payload, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return x, fmt.Errorf("explain %s: at version %d: %w", batchID, e.StreamVersion, err)
		}
		switch v := payload.(type) {
		case selection.SelectionBatchOpened:
			x.TaskType, x.Quota = v.TaskType, v.Quota
			for _, c := range v.Rubric.Criteria {
				x.Criteria = append(x.Criteria, c.Name)
			}
			use(e)
		case selection.QualificationDecided:
			for _, d := range v.Decisions {
				if d.Application == application {
					qualified = append(qualified, d)
					use(e)
				}
			}
		case selection.ExpertsAssigned:
			for i, a := range v.Assignments {
				if a.Application != application {
					continue
				}
				// A later assignment run replaces the earlier one.
				assigned, why = a.Experts, map[string]string{}
				if i < len(v.Explanations) {
					for j, ex := range a.Experts {
						if j < len(v.Explanations[i]) {
							why[ex] = v.Explanations[i][j]
						}
					}
				}
				use(e)
			}
		case selection.ScoresSubmitted:
			for _, s := range v.Scores {
				if s.Application == application {
					scores[v.Expert] = s.Criteria // a later submission replaces the earlier
					use(e)
				}
			}
		case selection.RankingProposed:
			proposals[v.Round], proposalP[v.Round] = v, e.Position
		case selection.RankingConfirmed:
			confirmed = v.Round
			use(e)
		case selection.RankingOverruled:
			if v.Application == application {
				overrules[v.Round] = append(overrules[v.Round], ExplainedOverrule{Decision: v.Decision, Reason: v.Reason, At: e.RecordedAt, By: e.Metadata.ActorID})
				overruleP[v.Round] = append(overruleP[v.Round], e.Position)
			}
		case selection.SuccessorNoticed:
			if v.Application == application {
				x.MovedUp = &v
				use(e)
			}
		case selection.StageReopened:
			if v.From == selection.StageNotice && x.MovedUp != nil {
				x.MovedUp = nil // the notice it moved up onto was withdrawn
			}
		case selection.ObjectionFiled:
			if v.Application != application {
				continue
			}
			o := ExplainedObjection{ObjectionID: v.ObjectionID, FiledAt: e.RecordedAt, Name: v.Name, Contact: v.Contact, Text: v.Text}
			if !privacy.MayRead(viewer, privacy.Objector, "") {
				o.Name, o.Contact = privacy.Withheld, privacy.Withheld
			}
			objIndex[v.ObjectionID] = len(x.Objections)
			x.Objections = append(x.Objections, o)
			use(e)
		case selection.ObjectionAdjudicated:
			if i, ok := objIndex[v.ObjectionID]; ok {
				x.Objections[i].Outcome, x.Objections[i].Reason, x.Objections[i].AdjudicatedAt = string(v.Outcome), v.Reason, e.RecordedAt
				use(e)
			}
		case selection.SelectionBatchPublished:
			published = &v
			x.PublishedAt = e.RecordedAt
			use(e)
		}
	}
	if published == nil {
		return x, fmt.Errorf("batch %s: %w", batchID, ErrNotPublished)
	}
	if i := slices.Index(published.List, application); i >= 0 {
		x.Published, x.PublishedRank = true, i+1
	}
	p, ok := proposals[confirmed]
	if !ok {
		return x, fmt.Errorf("batch %s published without a confirmed ranking: %w", batchID, ErrNotRanked)
	}
	found := false
	for _, r := range p.Ranking.Entries {
		if r.Application == application {
			x.Ranking, found = r, true
		}
	}
	if !found {
		return x, fmt.Errorf("%s in batch %s: %w", application, batchID, ErrNotRanked)
	}
	sources[proposalP[confirmed]] = true
	x.Overrules = overrules[confirmed]
	for _, pos := range overruleP[confirmed] {
		sources[pos] = true
	}
	if x.Overrules == nil {
		x.Overrules = []ExplainedOverrule{}
	}
	x.RankingRound, x.Rules = confirmed, p.Ranking.Rules
	if x.Ranking.DecidedBy != "" {
		x.TieBreak = x.Ranking.DecidedBy.Zh() + "：" + x.Ranking.Why
	}
	if c := p.Ranking.Cut; c != nil && (c.LastIn == application || c.FirstOut == application) {
		x.Cut = c
	}
	totals := map[string]string{}
	for _, t := range x.Ranking.Totals {
		totals[t.Expert] = t.Total.Exact()
	}
	for _, ex := range assigned {
		s, ok := scores[ex]
		x.Experts = append(x.Experts, ExplainedExpert{Expert: ex, Why: why[ex], Criteria: s, Total: totals[ex], Scored: ok})
	}
	for pos := range sources {
		if pos > 0 {
			x.Sources = append(x.Sources, pos)
		}
	}
	slices.Sort(x.Sources)
	x.Qualification = qualified
	if x.Qualification == nil {
		x.Qualification = []selection.QualificationDecision{}
	}
	if x.Objections == nil {
		x.Objections = []ExplainedObjection{}
	}
	return x, nil
}
