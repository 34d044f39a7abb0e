// Package assign chooses the experts who review each application in the expert
// selection (专家遴选) of a batch. It never assigns an expert to an application they
// must recuse themselves from, keeps every expert within their load, gives each
// application exactly N distinct experts, and among all such assignments returns
// one with the greatest total expertise match, explaining every choice and every
// exclusion.
//
// The solver is a min-cost flow (source → application → expert → sink) solved by
// successive shortest paths with potentials; the same input in any order gives the
// same output.
package assign

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// DefaultPerApplication is how many experts review each application when the
// problem does not say.
const DefaultPerApplication = 3

// MaxLevel is the highest expertise level; 0 means no expertise in a task type.
const MaxLevel = 3

// Sanity bounds that keep every sum far from overflow; no real batch nears them.
const (
	MaxPerApplication = 100
	MaxLoad           = 100_000
)

// Application is one school's application to be reviewed.
type Application struct {
	ID        string   `json:"id"`
	TaskType  string   `json:"task_type"`
	School    string   `json:"school"`   // the applicant school's id
	Province  string   `json:"province"` // the applicant school's province
	Alliances []string `json:"alliances,omitempty"`
}

// Expert is one reviewer in the pool.
type Expert struct {
	ID        string         `json:"id"`
	Expertise map[string]int `json:"expertise"`          // task type → level 0..MaxLevel; absent means 0
	Province  string         `json:"province,omitempty"` // empty for national bodies, which no province conflicts with
	Employer  string         `json:"employer,omitempty"` // the employing school's id, if a school employs the expert
	Alliances []string       `json:"alliances,omitempty"`
	// Declared conflicts (本人申报回避), kept apart because an application id
	// and a school id may look alike.
	ConflictApplications []string `json:"conflict_applications,omitempty"`
	ConflictSchools      []string `json:"conflict_schools,omitempty"`
	Load                 int      `json:"load"` // the most applications the expert reviews in this selection
}

// Problem is one expert selection to solve.
type Problem struct {
	Applications   []Application `json:"applications"`
	Experts        []Expert      `json:"experts"`
	PerApplication int           `json:"per_application"` // 0 means DefaultPerApplication
}

// Constraint names a rule that keeps an expert from an application, or that an
// assignment cannot meet.
type Constraint string

// Conflict rules: an expert is excluded from an application when any applies.
const (
	SameSchool   Constraint = "same-school"   // 同一学校: the expert works at the applicant school
	SameProvince Constraint = "same-province" // 同一省份
	SameAlliance Constraint = "same-alliance" // 同一联盟
	Declared     Constraint = "declared"      // 本人申报回避: the expert declared the application or school
	NoExpertise  Constraint = "no-expertise"  // 专业不符: level 0 in the application's task type
)

// Constraints an assignment as a whole may fail.
const (
	TooFewEligible Constraint = "too-few-eligible" // an application has fewer eligible experts than it needs
	TotalLoad      Constraint = "total-load"       // all loads together are below what the batch needs
	LoadLimit      Constraint = "load-limit"       // a group of applications competes for too little load
)

var constraintZh = map[Constraint]string{
	SameSchool:     "同一学校",
	SameProvince:   "同一省份",
	SameAlliance:   "同一联盟",
	Declared:       "本人申报回避",
	NoExpertise:    "专业不符",
	TooFewEligible: "合格专家不足",
	TotalLoad:      "专家总工作量不足",
	LoadLimit:      "专家工作量上限",
}

// Zh returns the constraint's name in Simplified Chinese.
func (c Constraint) Zh() string { return constraintZh[c] }

// Reason is one constraint applied to one expert and application, explained.
type Reason struct {
	Constraint Constraint `json:"constraint"`
	Zh         string     `json:"zh"`
	En         string     `json:"en"`
}

// Assignment is one expert reviewing one application.
type Assignment struct {
	Application string `json:"application"`
	Expert      string `json:"expert"`
	TaskType    string `json:"task_type"`
	Level       int    `json:"level"`    // the expert's level in the task type
	Eligible    int    `json:"eligible"` // experts eligible for the application, this one included
	// HigherLevelFull counts eligible experts of a higher level not assigned to
	// the application; an optimal assignment only leaves them out because their
	// load is used up elsewhere.
	HigherLevelFull int    `json:"higher_level_full"`
	Zh              string `json:"zh"`
	En              string `json:"en"`
}

// Exclusion is an expert qualified in an application's task type but kept from
// it by conflict rules, with every rule that applies.
type Exclusion struct {
	Application string   `json:"application"`
	Expert      string   `json:"expert"`
	Reasons     []Reason `json:"reasons"`
}

// Unqualified is an expert with no expertise (level 0) in a task type that
// applications of the batch have; it stands for an exclusion from each of them.
type Unqualified struct {
	TaskType string `json:"task_type"`
	Expert   string `json:"expert"`
	Reason   Reason `json:"reason"`
}

// ExpertLoad is how much of an expert's load the assignment uses.
type ExpertLoad struct {
	Expert   string `json:"expert"`
	Assigned int    `json:"assigned"`
	Limit    int    `json:"limit"`
}

// Result is an optimal assignment and its explanation. Every list is sorted by
// its ids in byte order.
type Result struct {
	PerApplication int           `json:"per_application"`
	TotalLevel     int           `json:"total_level"` // the objective: the sum of Level over Assignments
	Assignments    []Assignment  `json:"assignments"` // by application, then expert
	Exclusions     []Exclusion   `json:"exclusions"`  // by application, then expert
	Unqualified    []Unqualified `json:"unqualified"` // by task type, then expert
	Loads          []ExpertLoad  `json:"loads"`       // by expert
}

// expert is an Expert prepared for fast conflict checks.
type expert struct {
	*Expert
	conflictApps, conflictSchools map[string]bool
}

func prepare(e *Expert) *expert {
	x := &expert{Expert: e}
	if len(e.ConflictApplications) > 0 {
		x.conflictApps = make(map[string]bool, len(e.ConflictApplications))
		for _, id := range e.ConflictApplications {
			x.conflictApps[id] = true
		}
	}
	if len(e.ConflictSchools) > 0 {
		x.conflictSchools = make(map[string]bool, len(e.ConflictSchools))
		for _, id := range e.ConflictSchools {
			x.conflictSchools[id] = true
		}
	}
	return x
}

// Check returns every rule that keeps e from reviewing a, in a fixed order;
// none means e is eligible for a.
func Check(a Application, e Expert) []Reason {
	x := prepare(&e)
	var rs []Reason
	if lvl := e.Expertise[a.TaskType]; lvl <= 0 {
		rs = append(rs, noExpertise(a.TaskType, lvl))
	}
	return append(rs, conflicts(&a, x)...)
}

// Conflicts returns the conflict rules alone that keep e from reviewing a: a
// conflict found after the assignment (a record updated since) still bars
// the expert's score.
func Conflicts(a Application, e Expert) []Reason { return conflicts(&a, prepare(&e)) }

func noExpertise(taskType string, lvl int) Reason {
	return Reason{NoExpertise,
		fmt.Sprintf("专业不符：专家在任务类型“%s”上的专长等级为 %d", taskType, lvl),
		fmt.Sprintf("no expertise: the expert's level in task type %q is %d", taskType, lvl)}
}

// conflicts returns the conflict rules (all but NoExpertise) that keep x from a.
// It allocates nothing when there are none, since it runs for every qualified
// pair of a national batch.
func conflicts(a *Application, x *expert) []Reason {
	var rs []Reason
	if x.Employer != "" && x.Employer == a.School {
		rs = append(rs, Reason{SameSchool,
			fmt.Sprintf("同一学校：专家任职于申报学校 %s", a.School),
			fmt.Sprintf("same school: the expert works at the applicant school %s", a.School)})
	}
	if x.Province != "" && x.Province == a.Province {
		rs = append(rs, Reason{SameProvince,
			fmt.Sprintf("同一省份：专家与申报学校同属 %s", a.Province),
			fmt.Sprintf("same province: the expert and the applicant school are both in %s", a.Province)})
	}
	var shared []string
	for _, al := range a.Alliances {
		if slices.Contains(x.Alliances, al) && !slices.Contains(shared, al) {
			shared = append(shared, al)
		}
	}
	if len(shared) > 0 {
		slices.Sort(shared)
		rs = append(rs, Reason{SameAlliance,
			fmt.Sprintf("同一联盟：专家与申报学校同属联盟 %s", strings.Join(shared, "、")),
			fmt.Sprintf("same alliance: the expert and the applicant school are both in %s", strings.Join(shared, ", "))})
	}
	if x.conflictApps[a.ID] {
		rs = append(rs, Reason{Declared,
			fmt.Sprintf("本人申报回避：专家申报回避申报 %s", a.ID),
			fmt.Sprintf("declared: the expert declared a conflict with application %s", a.ID)})
	}
	if x.conflictSchools[a.School] {
		rs = append(rs, Reason{Declared,
			fmt.Sprintf("本人申报回避：专家申报回避学校 %s", a.School),
			fmt.Sprintf("declared: the expert declared a conflict with school %s", a.School)})
	}
	return rs
}

// Assign solves p: every application gets exactly N distinct eligible experts,
// no expert exceeds their load, and the total level is the greatest possible.
// Among equally good assignments the one returned depends on the ids alone,
// never on the order of the input: the solver works in id order and breaks
// every tie by the lower index. Experts with load 0 are never assigned.
//
// It returns a *domain.FieldError naming the field when p is malformed, and an
// *InfeasibleError (a *domain.ConflictError to errors.As) when no assignment
// meets every constraint; the checks run in this order: each application has N
// eligible experts (TooFewEligible), the loads add up to N per application
// (TotalLoad), and no group of applications competes for too little load
// (LoadLimit, found from the minimum cut of the solved network).
func Assign(p Problem) (*Result, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	n := p.PerApplication
	if n == 0 {
		n = DefaultPerApplication
	}
	// Solve in id order so that the output depends on the ids alone, never on
	// the order the caller listed them in.
	apps := make([]int, len(p.Applications)) // indexes into p.Applications, by id
	for i := range apps {
		apps[i] = i
	}
	slices.SortFunc(apps, func(i, j int) int { return cmp.Compare(p.Applications[i].ID, p.Applications[j].ID) })
	experts := make([]*expert, len(p.Experts))
	for i := range p.Experts {
		experts[i] = prepare(&p.Experts[i])
	}
	slices.SortFunc(experts, func(x, y *expert) int { return cmp.Compare(x.ID, y.ID) })

	// Only experts qualified in a task type are ever checked against its
	// applications: this prunes the dense application × expert graph.
	qualified := map[string][]int{}
	var taskTypes []string
	for _, i := range apps {
		tt := p.Applications[i].TaskType
		if _, seen := qualified[tt]; seen {
			continue
		}
		taskTypes = append(taskTypes, tt)
		qualified[tt] = []int{}
		for k, x := range experts {
			if x.Expertise[tt] > 0 {
				qualified[tt] = append(qualified[tt], k)
			}
		}
	}

	res := &Result{PerApplication: n}
	slices.Sort(taskTypes)
	for _, tt := range taskTypes {
		for _, x := range experts {
			if lvl := x.Expertise[tt]; lvl <= 0 {
				res.Unqualified = append(res.Unqualified, Unqualified{TaskType: tt, Expert: x.ID, Reason: noExpertise(tt, lvl)})
			}
		}
	}

	g := newBuilder(len(apps), len(experts))
	var short []Shortage
	for ai, i := range apps {
		a := &p.Applications[i]
		sh := Shortage{Application: a.ID, Field: fmt.Sprintf("applications[%d]", i)}
		for _, k := range qualified[a.TaskType] {
			x := experts[k]
			sh.Qualified++
			if rs := conflicts(a, x); rs != nil {
				res.Exclusions = append(res.Exclusions, Exclusion{Application: a.ID, Expert: x.ID, Reasons: rs})
				for j, r := range rs {
					if j == 0 || r.Constraint != rs[j-1].Constraint { // declared twice counts once
						sh.count(r.Constraint)
					}
				}
				continue
			}
			if x.Load == 0 {
				sh.NoLoad++
				continue
			}
			g.edge(ai, k, x.Expertise[a.TaskType])
			sh.Eligible++
		}
		if sh.Eligible < n {
			short = append(short, sh)
		}
	}
	if len(short) > 0 {
		return nil, tooFewEligible(short, n)
	}
	need, have := n*len(apps), 0
	for _, x := range experts {
		have += x.Load
	}
	if have < need {
		return nil, totalLoad(have, need, len(apps), n)
	}

	caps := make([]int, len(experts))
	for k, x := range experts {
		caps[k] = x.Load
	}
	f := g.build(n, caps)
	if flow := f.solve(need); flow < need {
		return nil, f.loadLimit(n, func(ai int) string { return p.Applications[apps[ai]].ID })
	}

	// Read the assignment off the flow, with what explains each choice.
	assigned := make([]int, len(experts))
	for ai, i := range apps {
		a := &p.Applications[i]
		chosen := f.chosen(ai)
		eligible := f.eligible(ai)
		for _, k := range chosen {
			x := experts[k]
			lvl := x.Expertise[a.TaskType]
			higher := 0
			for _, k2 := range eligible {
				if experts[k2].Expertise[a.TaskType] > lvl && !slices.Contains(chosen, k2) {
					higher++
				}
			}
			res.Assignments = append(res.Assignments, explain(a, x.ID, lvl, len(eligible), higher))
			res.TotalLevel += lvl
			assigned[k]++
		}
	}
	for k, x := range experts {
		res.Loads = append(res.Loads, ExpertLoad{Expert: x.ID, Assigned: assigned[k], Limit: x.Load})
	}
	return res, nil
}

func explain(a *Application, expert string, lvl, eligible, higher int) Assignment {
	as := Assignment{Application: a.ID, Expert: expert, TaskType: a.TaskType, Level: lvl, Eligible: eligible, HigherLevelFull: higher}
	if higher == 0 {
		as.Zh = fmt.Sprintf("专长等级 %d（最高 %d）；与该申报无回避关系；在 %d 名合格专家中按专长匹配总分最优选定", lvl, MaxLevel, eligible)
		as.En = fmt.Sprintf("expertise level %d of %d; no conflict with the application; chosen among %d eligible experts for the best total expertise match", lvl, MaxLevel, eligible)
	} else {
		as.Zh = fmt.Sprintf("专长等级 %d（最高 %d）；与该申报无回避关系；在 %d 名合格专家中选定，另有 %d 名等级更高的合格专家工作量已满", lvl, MaxLevel, eligible, higher)
		as.En = fmt.Sprintf("expertise level %d of %d; no conflict with the application; chosen among %d eligible experts, %d of a higher level having reached their load limit", lvl, MaxLevel, eligible, higher)
	}
	return as
}
