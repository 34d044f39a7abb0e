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
	"time"
)

// DefaultPerApplication is how many experts review each application when the
// problem does not say.
const DefaultPerApplication = 3

// MaxLevel is the highest expertise level; 0 means no expertise in a task type.
const MaxLevel = 3

// FormerEmployerYears is how long a former employer still bars an expert: a
// school the expert left within this many years of the assignment.
const FormerEmployerYears = 3

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
	// Members are the other schools the application is filed for (an
	// alliance's member schools, a course's co-building schools): an expert
	// employed at one of them, now or lately, is in the same alliance.
	Members []string `json:"members,omitempty"`
	// Panel lists the experts who already review the application and stay:
	// only the places left open (PerApplication − len(Panel)) are filled, and
	// nothing else changes (a minimal-change reassignment).
	Panel []string `json:"panel,omitempty"`
	// Barred lists experts who left the application's panel (declined or
	// replaced): they are never put back on it.
	Barred []string `json:"barred,omitempty"`
}

// FormerEmployment is a school that employed the expert until a date.
type FormerEmployment struct {
	School string    `json:"school"`
	Until  time.Time `json:"until"`
}

// Expert is one reviewer in the pool.
type Expert struct {
	ID        string         `json:"id"`
	Expertise map[string]int `json:"expertise"`          // task type → level 0..MaxLevel; absent means 0
	Province  string         `json:"province,omitempty"` // empty for national bodies, which no province conflicts with
	Employer  string         `json:"employer,omitempty"` // the employing school's id, if a school employs the expert
	Alliances []string       `json:"alliances,omitempty"`
	// FormerEmployers is the expert's employment history; one left within
	// FormerEmployerYears of the problem's AsOf bars the expert as its own staff.
	FormerEmployers []FormerEmployment `json:"former_employers,omitempty"`
	// Declared conflicts (本人申报回避), kept apart because an application id
	// and a school id may look alike.
	ConflictApplications []string `json:"conflict_applications,omitempty"`
	ConflictSchools      []string `json:"conflict_schools,omitempty"`
	// Load is the most applications the expert may still take: their limit
	// less what they already review in every open batch.
	Load int `json:"load"`
}

// Problem is one expert selection to solve.
type Problem struct {
	Applications   []Application `json:"applications"`
	Experts        []Expert      `json:"experts"`
	PerApplication int           `json:"per_application"` // 0 means DefaultPerApplication
	// AsOf is the day conflicts are judged on (former employers); zero counts
	// every former employer, whenever the expert left.
	AsOf time.Time `json:"as_of,omitzero"`
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
	// FormerEmployer: the expert worked at the applicant school within
	// FormerEmployerYears (曾任职回避).
	FormerEmployer Constraint = "former-employer"
	// Withdrawn: the expert declined the application or was replaced on it.
	Withdrawn Constraint = "withdrawn"
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
	FormerEmployer: "曾任职回避",
	Withdrawn:      "已退出该申报评审",
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
	// employers are the schools that bar the expert as their staff on asOf:
	// the current employer and those left within FormerEmployerYears.
	former []FormerEmployment
}

func prepare(e *Expert, asOf time.Time) *expert {
	x := &expert{Expert: e}
	for _, f := range e.FormerEmployers {
		if asOf.IsZero() || f.Until.AddDate(FormerEmployerYears, 0, 0).After(asOf) {
			x.former = append(x.former, f)
		}
	}
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
func Check(a Application, e Expert) []Reason { return CheckAsOf(a, e, time.Time{}) }

// CheckAsOf is Check with former employers judged on asOf.
func CheckAsOf(a Application, e Expert, asOf time.Time) []Reason {
	x := prepare(&e, asOf)
	var rs []Reason
	if lvl := e.Expertise[a.TaskType]; lvl <= 0 {
		rs = append(rs, noExpertise(a.TaskType, lvl))
	}
	return append(rs, conflicts(&a, x)...)
}

// Conflicts returns the conflict rules alone that keep e from reviewing a: a
// conflict found after the assignment (a record updated since) still bars
// the expert's score.
func Conflicts(a Application, e Expert) []Reason { return conflicts(&a, prepare(&e, time.Time{})) }

// ConflictsAsOf is Conflicts with former employers judged on asOf.
func ConflictsAsOf(a Application, e Expert, asOf time.Time) []Reason {
	return conflicts(&a, prepare(&e, asOf))
}

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
	for _, f := range x.former {
		if f.School == a.School {
			rs = append(rs, Reason{FormerEmployer,
				fmt.Sprintf("曾任职回避：专家 %s 前曾任职于申报学校 %s（离职未满 %d 年）", formatDay(f.Until), a.School, FormerEmployerYears),
				fmt.Sprintf("former employer: the expert worked at the applicant school %s until %s, less than %d years ago", a.School, formatDay(f.Until), FormerEmployerYears)})
			break
		}
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
	if len(a.Members) > 0 {
		var at []string
		if x.Employer != "" && x.Employer != a.School && slices.Contains(a.Members, x.Employer) {
			at = append(at, x.Employer)
		}
		for _, f := range x.former {
			if f.School != a.School && slices.Contains(a.Members, f.School) && !slices.Contains(at, f.School) {
				at = append(at, f.School)
			}
		}
		if len(at) > 0 {
			slices.Sort(at)
			rs = append(rs, Reason{SameAlliance,
				fmt.Sprintf("同一联盟：专家任职（或离职未满 %d 年）于该申报的成员学校 %s", FormerEmployerYears, strings.Join(at, "、")),
				fmt.Sprintf("same alliance: the expert works (or worked within %d years) at member school %s of the application", FormerEmployerYears, strings.Join(at, ", "))})
		}
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

func formatDay(t time.Time) string { return t.Format("2006-01-02") }

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
		experts[i] = prepare(&p.Experts[i], p.AsOf)
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
	needs := make([]int, len(apps))
	need := 0
	for ai, i := range apps {
		a := &p.Applications[i]
		needs[ai] = n - len(a.Panel)
		need += needs[ai]
		sh := Shortage{Application: a.ID, Field: fmt.Sprintf("applications[%d]", i), Need: needs[ai]}
		for _, k := range qualified[a.TaskType] {
			x := experts[k]
			if slices.Contains(a.Panel, x.ID) {
				continue // stays on the panel: neither a new choice nor excluded
			}
			sh.Qualified++
			if slices.Contains(a.Barred, x.ID) {
				res.Exclusions = append(res.Exclusions, Exclusion{Application: a.ID, Expert: x.ID, Reasons: []Reason{withdrawn(a.ID)}})
				sh.count(Withdrawn)
				continue
			}
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
		if sh.Eligible < needs[ai] {
			short = append(short, sh)
		}
	}
	if len(short) > 0 {
		return nil, tooFewEligible(short, n)
	}
	have := 0
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
	f := g.build(needs, caps)
	if flow := f.solve(need); flow < need {
		return nil, f.loadLimit(needs, func(ai int) string { return p.Applications[apps[ai]].ID })
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
			as := explain(a, x.ID, lvl, len(eligible), higher)
			if len(a.Panel) > 0 || len(a.Barred) > 0 {
				as.Zh = fmt.Sprintf("填补空缺席位（其余 %d 名评审专家不变）；", len(a.Panel)) + as.Zh
				as.En = fmt.Sprintf("fills an open place (the other %d experts stay); ", len(a.Panel)) + as.En
			}
			res.Assignments = append(res.Assignments, as)
			res.TotalLevel += lvl
			assigned[k]++
		}
	}
	for k, x := range experts {
		res.Loads = append(res.Loads, ExpertLoad{Expert: x.ID, Assigned: assigned[k], Limit: x.Load})
	}
	return res, nil
}

func withdrawn(app string) Reason {
	return Reason{Withdrawn,
		fmt.Sprintf("已退出该申报评审：专家已谢绝或被替换出申报 %s 的评审", app),
		fmt.Sprintf("withdrawn: the expert declined or was replaced on application %s", app)}
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
