package selection

import "time"

// Event types of expert panels (SelectionBatchStream; written by the batch's
// workflow).
const (
	TypeNoConflictDeclared = "NoConflictDeclared"
	TypeAssignmentDeclined = "AssignmentDeclined"
	TypeExpertsReplaced    = "ExpertsReplaced"
	TypeScoringReminderDue = "ScoringReminderDue"
	TypeExpertsSilent      = "ExpertsSilent"
)

// NoConflictDeclared: the expert signed, for each application named, a
// declaration that they have no conflict of interest with it (无利益冲突声明).
// Scoring an application needs its declaration.
type NoConflictDeclared struct {
	Expert       string   `json:"expert"`
	Applications []string `json:"applications"`
}

// AssignmentDeclined: the expert declined to review an application, with the
// reason; Conflict says the reason is a conflict of interest they declare.
// Their place stays open until the ministry replaces them.
type AssignmentDeclined struct {
	Expert      string `json:"expert"`
	Application string `json:"application"`
	Reason      string `json:"reason"`
	Conflict    bool   `json:"conflict,omitempty"`
}

// ExpertReplacement is one place on a panel given to another expert.
type ExpertReplacement struct {
	Application string `json:"application"`
	Expert      string `json:"expert"`      // who leaves: declined or silent
	Replacement string `json:"replacement"` // who takes the place
	Explanation string `json:"explanation"` // the solver's, in Chinese
}

// ExpertsReplaced: the ministry replaced declined or silent experts; the
// solver filled only those places and left every other assignment as it was.
type ExpertsReplaced struct {
	Round        int                 `json:"round"`
	Reason       string              `json:"reason"`
	Replacements []ExpertReplacement `json:"replacements"`
}

// ScoringReminderDue: the scoring deadline is Before away; Experts (sorted)
// still have applications to score.
type ScoringReminderDue struct {
	Deadline time.Time     `json:"deadline"`
	Before   time.Duration `json:"before"`
	Experts  []string      `json:"experts"`
}

// SilentExpert is an expert who had not scored every application assigned
// to them when scoring closed.
type SilentExpert struct {
	Expert  string `json:"expert"`
	Pending int    `json:"pending"` // applications not scored and not declined
}

// ExpertsSilent: at the scoring deadline these experts were silent; the
// ministry is told, and may replace them.
type ExpertsSilent struct {
	Deadline time.Time      `json:"deadline"`
	Experts  []SilentExpert `json:"experts"`
}

// ApplyPanels moves a batch's panels (application → experts) on by one of its
// events; other events leave them. Readers that need only who reviews what
// across batches (an expert's load) fold the log with it.
func ApplyPanels(panels map[string][]string, payload any) {
	switch e := payload.(type) {
	case ExpertsAssigned:
		for _, as := range e.Assignments {
			panels[as.Application] = append([]string(nil), as.Experts...)
		}
	case ExpertsReplaced:
		for _, r := range e.Replacements {
			for i, ex := range panels[r.Application] {
				if ex == r.Expert {
					panels[r.Application][i] = r.Replacement
				}
			}
		}
	}
}
