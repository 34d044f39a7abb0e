package selection

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
)

// PlanFacts is what the log says of a plan batch, as far as opening a
// selection batch of one of its task items needs it: its catalogue and what
// each province undertook for the item in the batch's filed intent round. The
// application layer reads it from the plan batch's stream and the round's
// streams; Plan judges it, so the workflow's opening never does I/O.
type PlanFacts struct {
	Exists bool              `json:"exists"`
	Items  []intent.TaskItem `json:"items,omitempty"`
	// Round is the plan batch's latest filed intent round; "" when none is
	// filed. Undertaken and Units come from its submitted forms.
	Round      string           `json:"round,omitempty"`
	Undertaken map[string]int64 `json:"undertaken,omitempty"` // province → 承接数量 of the task item
	// Units is each province's 实施单位 for the task item (school codes), when
	// its form names them.
	Units map[string][]string `json:"units,omitempty"`
}

// QuotaOverride is the ministry setting one province's recommendation quota
// to something other than its filed intent quantity, with the reason the log
// keeps beside it. Intended is the filed quantity, filled in by Plan.
type QuotaOverride struct {
	Province string `json:"province"`
	Quota    int    `json:"quota"`
	Intended int    `json:"intended"`
	Reason   string `json:"reason"`
}

// Plan decides the hand-over from the plan to a selection batch: the batch
// names its plan batch and a selection task item of that batch's catalogue;
// its task type is the item's code; its province quotas are what each
// province undertook for the item in the filed intent round, except where an
// override with a reason says otherwise. A client never sets the quotas
// directly: province_quotas in o is refused. Errors: *domain.FieldError naming
// plan_batch_id, task_item, task_type, province_quotas or
// quota_overrides[i].*; *domain.ConflictError when no round is filed yet.
func Plan(o SelectionBatchOpened, plan PlanFacts, overrides []QuotaOverride) (SelectionBatchOpened, error) {
	o.PlanBatchID, o.TaskItem, o.TaskType = strings.TrimSpace(o.PlanBatchID), strings.TrimSpace(o.TaskItem), strings.TrimSpace(o.TaskType)
	switch {
	case o.PlanBatchID == "":
		return o, domain.Invalid("plan_batch_id", "请指定遴选批次所属的任务批次", "plan batch id is empty")
	case !plan.Exists:
		return o, domain.Invalid("plan_batch_id", fmt.Sprintf("任务批次“%s”不存在", clipInput(o.PlanBatchID)),
			fmt.Sprintf("no plan batch %q", clipInput(o.PlanBatchID)))
	case o.TaskItem == "":
		return o, domain.Invalid("task_item", "请指定任务（项目）", "task item is empty")
	}
	i := slices.IndexFunc(plan.Items, func(it intent.TaskItem) bool { return it.Item == o.TaskItem })
	if i < 0 {
		return o, domain.Invalid("task_item", fmt.Sprintf("任务批次“%s”中没有任务 %s", o.PlanBatchID, clipInput(o.TaskItem)),
			fmt.Sprintf("plan batch %s has no task item %q", o.PlanBatchID, clipInput(o.TaskItem)))
	}
	item := plan.Items[i]
	switch {
	case item.Kind != intent.KindSelection:
		return o, domain.Invalid("task_item", fmt.Sprintf("任务 %s（%s）不是遴选类任务，不开展遴选", item.Item, item.Name),
			fmt.Sprintf("task item %s is of kind %s", item.Item, item.Kind))
	case o.TaskType != "" && o.TaskType != item.Code:
		return o, domain.Invalid("task_type", fmt.Sprintf("任务 %s 的任务类型为 %s，与所填 %s 不一致（可不填）", item.Item, item.Code, clipInput(o.TaskType)),
			fmt.Sprintf("task type %q, item %s is %s", clipInput(o.TaskType), item.Item, item.Code))
	case len(o.ProvinceQuotas) > 0:
		return o, domain.Invalid("province_quotas", "各省推荐名额取自已备案的承接意向，不能直接填写；如需调整，请在 quota_overrides 中逐省填写名额和理由",
			"province quotas sent by the client")
	case plan.Round == "":
		return o, domain.Conflict("plan_batch_id", fmt.Sprintf("任务批次“%s”的承接意向尚未汇总备案，备案后方可开启遴选", o.PlanBatchID),
			"plan batch "+o.PlanBatchID+" has no filed intent round")
	}
	o.TaskType = item.Code
	o.IntentRound = plan.Round
	o.IntendedQuotas = map[string]int{}
	for p, q := range plan.Undertaken {
		if q > 0 {
			o.IntendedQuotas[p] = int(q)
		}
	}
	o.ProvinceQuotas = maps.Clone(o.IntendedQuotas)
	o.QuotaOverrides = nil
	for k, ov := range overrides {
		at := fmt.Sprintf("quota_overrides[%d]", k)
		name, known := identity.Provinces[ov.Province]
		switch {
		case !known:
			return o, domain.Invalid(at+".province", fmt.Sprintf("省份代码“%s”不存在", clipInput(ov.Province)),
				fmt.Sprintf("%s: unknown province %q", at, clipInput(ov.Province)))
		case slices.ContainsFunc(overrides[:k], func(x QuotaOverride) bool { return x.Province == ov.Province }):
			return o, domain.Invalid(at+".province", name+"的名额调整重复", at+": repeated province "+ov.Province)
		case ov.Quota < 0:
			return o, domain.Invalid(at+".quota", name+"的推荐名额不能为负", fmt.Sprintf("%s: quota %d", at, ov.Quota))
		case ov.Quota == o.IntendedQuotas[ov.Province]:
			return o, domain.Invalid(at+".quota", fmt.Sprintf("%s的推荐名额与其承接数量 %d 相同，无需调整", name, ov.Quota),
				fmt.Sprintf("%s: quota %d equals the intent", at, ov.Quota))
		}
		reason, err := text(at+".reason", ov.Reason, fmt.Sprintf("调整%s的推荐名额须填写理由", name))
		if err != nil {
			return o, err
		}
		ov.Reason, ov.Intended = reason, o.IntendedQuotas[ov.Province]
		o.QuotaOverrides = append(o.QuotaOverrides, ov)
		if ov.Quota == 0 {
			delete(o.ProvinceQuotas, ov.Province)
		} else {
			o.ProvinceQuotas[ov.Province] = ov.Quota
		}
	}
	if len(o.ProvinceQuotas) == 0 {
		return o, domain.Conflict("plan_batch_id", fmt.Sprintf("已备案的承接意向中没有省份承接任务 %s，无推荐名额", item.Item),
			"no province undertook "+item.Item+" in round "+plan.Round)
	}
	o.Units = nil
	for p, us := range plan.Units {
		if _, ok := o.ProvinceQuotas[p]; ok && len(us) > 0 {
			if o.Units == nil {
				o.Units = map[string][]string{}
			}
			o.Units[p] = slices.Sorted(slices.Values(us))
		}
	}
	return o, nil
}
