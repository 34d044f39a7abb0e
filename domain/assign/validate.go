package assign

import (
	"fmt"
	"maps"
	"slices"

	"keytask/domain"
)

// validate returns a *domain.FieldError for the first malformed field, in the
// order the caller listed things.
func (p *Problem) validate() error {
	if p.PerApplication < 0 || p.PerApplication > MaxPerApplication {
		return domain.Invalid("per_application", fmt.Sprintf("每项申报所需专家数应为 1 至 %d 的整数（不填则为 %d）", MaxPerApplication, DefaultPerApplication),
			fmt.Sprintf("per_application %d is outside 0..%d", p.PerApplication, MaxPerApplication))
	}
	seen := make(map[string]int, len(p.Applications))
	for i, a := range p.Applications {
		f := fmt.Sprintf("applications[%d]", i)
		switch j, dup := seen[a.ID]; {
		case a.ID == "":
			return domain.Invalid(f+".id", "申报编号不能为空", "empty application id")
		case dup:
			return domain.Invalid(f+".id", fmt.Sprintf("申报编号 %s 重复（与第 %d 项相同）", a.ID, j+1),
				fmt.Sprintf("application id %s repeats applications[%d]", a.ID, j))
		case a.TaskType == "":
			return domain.Invalid(f+".task_type", "任务类型不能为空", "empty task type")
		case a.School == "":
			return domain.Invalid(f+".school", "申报学校不能为空：同一学校回避需要它", "empty school")
		case a.Province == "":
			return domain.Invalid(f+".province", "申报学校所在省份不能为空：同一省份回避需要它", "empty province")
		}
		seen[a.ID] = i
		if err := nonEmpty(f+".alliances", a.Alliances, "联盟编号不能为空"); err != nil {
			return err
		}
		if err := nonEmpty(f+".members", a.Members, "成员学校编号不能为空"); err != nil {
			return err
		}
		if err := nonEmpty(f+".panel", a.Panel, "评审专家编号不能为空"); err != nil {
			return err
		}
		if err := nonEmpty(f+".barred", a.Barred, "已退出专家编号不能为空"); err != nil {
			return err
		}
		n := p.PerApplication
		if n == 0 {
			n = DefaultPerApplication
		}
		if len(a.Panel) >= n {
			return domain.Invalid(f+".panel", fmt.Sprintf("申报 %s 的评审专家已满 %d 名，没有空缺席位", a.ID, n),
				fmt.Sprintf("application %s has %d of %d experts: no open place", a.ID, len(a.Panel), n))
		}
	}
	clear(seen)
	for i, e := range p.Experts {
		f := fmt.Sprintf("experts[%d]", i)
		switch j, dup := seen[e.ID]; {
		case e.ID == "":
			return domain.Invalid(f+".id", "专家编号不能为空", "empty expert id")
		case dup:
			return domain.Invalid(f+".id", fmt.Sprintf("专家编号 %s 重复（与第 %d 名相同）", e.ID, j+1),
				fmt.Sprintf("expert id %s repeats experts[%d]", e.ID, j))
		case e.Load < 0 || e.Load > MaxLoad:
			return domain.Invalid(f+".load", fmt.Sprintf("工作量上限应为 0 至 %d 的整数", MaxLoad),
				fmt.Sprintf("load %d is outside 0..%d", e.Load, MaxLoad))
		}
		seen[e.ID] = i
		for _, tt := range slices.Sorted(maps.Keys(e.Expertise)) {
			lvl := e.Expertise[tt]
			if tt == "" {
				return domain.Invalid(f+".expertise", "专长的任务类型不能为空", "empty task type in expertise")
			}
			if lvl < 0 || lvl > MaxLevel {
				return domain.Invalid(f+".expertise."+tt, fmt.Sprintf("专长等级应为 0 至 %d 的整数", MaxLevel),
					fmt.Sprintf("level %d in %s is outside 0..%d", lvl, tt, MaxLevel))
			}
		}
		for j, fe := range e.FormerEmployers {
			if fe.School == "" {
				return domain.Invalid(fmt.Sprintf("%s.former_employers[%d].school", f, j), "曾任职学校编号不能为空", "empty former employer")
			}
		}
		for _, l := range []struct {
			field string
			ids   []string
			msg   string
		}{
			{".alliances", e.Alliances, "联盟编号不能为空"},
			{".conflict_applications", e.ConflictApplications, "申报回避的申报编号不能为空"},
			{".conflict_schools", e.ConflictSchools, "申报回避的学校编号不能为空"},
		} {
			if err := nonEmpty(f+l.field, l.ids, l.msg); err != nil {
				return err
			}
		}
	}
	return nil
}

// nonEmpty refuses an empty id, which would match every other empty id.
func nonEmpty(field string, ids []string, msg string) error {
	for j, id := range ids {
		if id == "" {
			return domain.Invalid(fmt.Sprintf("%s[%d]", field, j), msg, "empty id in "+field)
		}
	}
	return nil
}
