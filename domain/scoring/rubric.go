// Package scoring turns experts' scores into a ranking for the expert selection
// (专家遴选) of a batch: a rubric per task type with weighted criteria, each
// expert's weighted total out of 100, the exact mean per application with a flag
// when experts disagree too much, and a ranking cut at the batch quota whose
// every tie-break is recorded.
//
// No float is involved: scores are integers, and totals, means and medians are
// exact fractions (Points), rounded only for display.
package scoring

import (
	"fmt"

	"keytask/domain"
)

// Bounds on a rubric; they keep every sum and cross product exact in 64 bits.
const (
	MaxCriteria = 50
	MaxScore    = 1000 // the largest full mark of a criterion
	// maxDen bounds the least common multiple of the criteria's full marks, the
	// common denominator of every expert's total.
	maxDen = 1_000_000
)

// Criterion is one item of a rubric (评分项).
type Criterion struct {
	Key    string `json:"key"`
	Name   string `json:"name"`   // as experts see it, e.g. 建设基础
	Weight int    `json:"weight"` // its share of the 100-point total; weights add up to 100
	Max    int    `json:"max"`    // the full mark an expert may give (满分)
}

// Rubric is how applications of one task type are scored (评分细则). An expert's
// weighted total is Σ weight × score / max over the criteria: full marks
// everywhere make 100.
type Rubric struct {
	TaskType string      `json:"task_type"`
	Criteria []Criterion `json:"criteria"`
}

// Scores is one expert's marks for one application, one per criterion in the
// rubric's order.
type Scores struct {
	Criteria []int `json:"criteria"`
}

// compiled is a valid rubric ready to score: every total is a whole number of
// 1/den points, so sums, means and medians stay exact integers.
type compiled struct {
	Rubric
	den    int64   // the least common multiple of the full marks
	factor []int64 // weight × den / max: a mark's worth in 1/den points
	lead   int     // the first-weighted criterion
}

// Validate returns a *domain.FieldError naming the first malformed field of r.
func (r Rubric) Validate() error {
	_, err := r.compile()
	return err
}

func (r Rubric) compile() (*compiled, error) {
	if r.TaskType == "" {
		return nil, domain.Invalid("task_type", "任务类型不能为空", "empty task type")
	}
	if len(r.Criteria) == 0 || len(r.Criteria) > MaxCriteria {
		return nil, domain.Invalid("criteria", fmt.Sprintf("评分细则应有 1 至 %d 个评分项", MaxCriteria),
			fmt.Sprintf("%d criteria, want 1..%d", len(r.Criteria), MaxCriteria))
	}
	c := &compiled{Rubric: r, den: 1}
	keys := map[string]int{}
	sum := 0
	for i, cr := range r.Criteria {
		f := fmt.Sprintf("criteria[%d]", i)
		switch j, dup := keys[cr.Key]; {
		case cr.Key == "":
			return nil, domain.Invalid(f+".key", "评分项编号不能为空", "empty criterion key")
		case dup:
			return nil, domain.Invalid(f+".key", fmt.Sprintf("评分项编号 %s 重复（与第 %d 项相同）", cr.Key, j+1),
				fmt.Sprintf("criterion key %s repeats criteria[%d]", cr.Key, j))
		case cr.Name == "":
			return nil, domain.Invalid(f+".name", "评分项名称不能为空", "empty criterion name")
		case cr.Weight < 1 || cr.Weight > 100:
			return nil, domain.Invalid(f+".weight", "权重应为 1 至 100 的整数", fmt.Sprintf("weight %d outside 1..100", cr.Weight))
		case cr.Max < 1 || cr.Max > MaxScore:
			return nil, domain.Invalid(f+".max", fmt.Sprintf("满分应为 1 至 %d 的整数", MaxScore), fmt.Sprintf("max %d outside 1..%d", cr.Max, MaxScore))
		}
		keys[cr.Key] = i
		sum += cr.Weight
		if sum > 100 {
			break // reported below; stops the sum growing without bound
		}
		c.den = c.den / gcd(c.den, int64(cr.Max)) * int64(cr.Max)
		if c.den > maxDen {
			return nil, domain.Invalid("criteria", fmt.Sprintf("各评分项满分的最小公倍数超过 %d，无法精确计算总分；请调整满分设置（如 5、10、20、25 分）", maxDen),
				fmt.Sprintf("the least common multiple of the full marks exceeds %d", maxDen))
		}
		if cr.Weight > r.Criteria[c.lead].Weight {
			c.lead = i
		}
	}
	if sum != 100 {
		return nil, domain.Invalid("criteria", fmt.Sprintf("各评分项权重之和应为 100，现为 %d", sum), fmt.Sprintf("weights add up to %d, want 100", sum))
	}
	for _, cr := range r.Criteria {
		c.factor = append(c.factor, int64(cr.Weight)*(c.den/int64(cr.Max)))
	}
	return c, nil
}

// Lead returns the index of the first-weighted criterion: the greatest weight,
// the earliest in the rubric among equals. Ranking tie-break rule 3 compares it.
// It returns -1 for an invalid rubric.
func (r Rubric) Lead() int {
	c, err := r.compile()
	if err != nil {
		return -1
	}
	return c.lead
}

// Total returns an expert's weighted total out of 100 for s. It returns a
// *domain.FieldError naming the rubric's field (criteria[i]...) when r is
// invalid, and scores.criteria or scores.criteria[i] when s is.
func (r Rubric) Total(s Scores) (Points, error) {
	c, err := r.compile()
	if err != nil {
		return Points{}, err
	}
	n, err := c.total(s)
	if err != nil {
		return Points{}, err
	}
	return newPoints(n, c.den), nil
}

// total returns the weighted total of s in 1/den points.
func (c *compiled) total(s Scores) (int64, error) {
	if len(s.Criteria) != len(c.Criteria) {
		return 0, domain.Invalid("scores.criteria", fmt.Sprintf("评分项数量应为 %d，实际为 %d", len(c.Criteria), len(s.Criteria)),
			fmt.Sprintf("%d scores for %d criteria", len(s.Criteria), len(c.Criteria)))
	}
	var n int64
	for i, v := range s.Criteria {
		cr := c.Criteria[i]
		f := fmt.Sprintf("scores.criteria[%d]", i)
		if v < 0 {
			return 0, domain.Invalid(f, fmt.Sprintf("“%s”评分不能为负数", cr.Name), fmt.Sprintf("score %d for %s is negative", v, cr.Key))
		}
		if v > cr.Max {
			return 0, domain.Invalid(f, fmt.Sprintf("“%s”评分 %d 超出该项满分 %d", cr.Name, v, cr.Max),
				fmt.Sprintf("score %d for %s is above its max %d", v, cr.Key, cr.Max))
		}
		n += c.factor[i] * int64(v)
	}
	return n, nil
}
