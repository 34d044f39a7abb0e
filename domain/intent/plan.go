package intent

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
)

// Limits of the plan catalogue. They are generous bounds against typing errors,
// not rules of the plan: the notice's first batch has eight items.
const (
	MaxBatchNameRunes = 100
	MaxItemNameRunes  = 200
	MaxUnitRunes      = 8
	MaxItemsPerBatch  = 200
	// MaxTarget bounds a national target (the notice's are in the hundreds).
	MaxTarget = 1_000_000
)

var (
	// batchIDPattern keeps batch and round ids safe inside stream names,
	// workflow ids and URLs.
	batchIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// itemPattern is the notice's numbering: "1", "2.1", at most four levels.
	itemPattern = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3}){0,3}$`)
	codePattern = regexp.MustCompile(`^[A-Z0-9]{2,16}$`)
)

// ValidateBatchID returns a *domain.FieldError for field "batch_id" unless id is
// a well-formed batch id.
func ValidateBatchID(id string) error {
	switch {
	case id == "":
		return domain.Invalid("batch_id", "请填写批次编号", "batch_id is required")
	case !batchIDPattern.MatchString(id):
		return domain.Invalid("batch_id", "批次编号只能包含字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位",
			fmt.Sprintf("batch_id %q is malformed", shorten(id)))
	}
	return nil
}

// ValidateRoundID returns a *domain.FieldError for field "round_id" unless id is
// a well-formed round id. Round ids name streams and the round's workflow, and
// are never reused, so they follow the same pattern as batch ids.
func ValidateRoundID(id string) error {
	switch {
	case id == "":
		return domain.Invalid("round_id", "请填写轮次编号", "round_id is required")
	case !batchIDPattern.MatchString(id):
		return domain.Invalid("round_id", "轮次编号只能包含字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位",
			fmt.Sprintf("round_id %q is malformed", shorten(id)))
	}
	return nil
}

// DefaultConstructionEnd is the last day of construction of the 2022 first
// batch ("确保2025年6月前完成全部建设任务"): the construction end of a batch
// opened without one, and of every batch recorded before batches kept their own.
const DefaultConstructionEnd = "2025-06-30"

// ConstructionDeadline is the instant construction of the batch's projects
// ends: the end (24:00) of its last day in Asia/Shanghai.
func (b PlanBatchOpened) ConstructionDeadline() time.Time {
	return ConstructionDeadlineOf(b.ConstructionEnd)
}

// ConstructionDeadlineOf is the end of the day end (YYYY-MM-DD) in
// Asia/Shanghai; an empty or malformed end is DefaultConstructionEnd.
func ConstructionDeadlineOf(end string) time.Time {
	d, err := time.ParseInLocation(time.DateOnly, end, shanghai)
	if err != nil {
		d, _ = time.ParseInLocation(time.DateOnly, DefaultConstructionEnd, shanghai)
	}
	return d.AddDate(0, 0, 1)
}

// checkConstructionEnd returns end in its canonical form, the default for none.
func checkConstructionEnd(end string) (string, error) {
	end = strings.TrimSpace(end)
	if end == "" {
		return DefaultConstructionEnd, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, end, shanghai)
	if err != nil {
		return "", domain.Invalid("construction_end", "建设截止日期格式应为 2025-06-30", fmt.Sprintf("construction_end %q is not a date", shorten(end)))
	}
	if y := d.Year(); y < 2000 || y > 2100 {
		return "", domain.Invalid("construction_end", "建设截止日期应在2000年至2100年之间", fmt.Sprintf("construction_end %s out of range", end))
	}
	return d.Format(time.DateOnly), nil
}

// OpenPlanBatch decides on the ministry opening a plan batch with its first task
// items; existing tells whether the batch's stream already has events. It
// returns the event to record, with surrounding white space trimmed. Errors:
// *domain.FieldError naming the field ("batch_id", "name", "items",
// "items[3].code"), *domain.ConflictError when the batch exists.
func OpenPlanBatch(existing bool, cmd PlanBatchOpened) (PlanBatchOpened, error) {
	cmd.BatchID = strings.TrimSpace(cmd.BatchID)
	cmd.Name = strings.TrimSpace(cmd.Name)
	if err := ValidateBatchID(cmd.BatchID); err != nil {
		return PlanBatchOpened{}, err
	}
	switch {
	case cmd.Name == "":
		return PlanBatchOpened{}, domain.Invalid("name", "请填写批次名称", "name is required")
	case utf8.RuneCountInString(cmd.Name) > MaxBatchNameRunes:
		return PlanBatchOpened{}, domain.Invalid("name", fmt.Sprintf("批次名称不能超过%d个字", MaxBatchNameRunes),
			fmt.Sprintf("name has more than %d characters", MaxBatchNameRunes))
	case len(cmd.Items) == 0:
		// A round is opened on a batch's items; a batch without any has nothing to declare.
		return PlanBatchOpened{}, domain.Invalid("items", "请至少填写一项任务（项目）", "a batch needs at least one item")
	}
	items, err := checkItems(nil, cmd.Items)
	if err != nil {
		return PlanBatchOpened{}, err
	}
	if cmd.ConstructionEnd, err = checkConstructionEnd(cmd.ConstructionEnd); err != nil {
		return PlanBatchOpened{}, err
	}
	if existing {
		return PlanBatchOpened{}, domain.Conflict("batch_id", "该批次编号已存在", fmt.Sprintf("batch %s is already open", cmd.BatchID))
	}
	cmd.Items = items
	return cmd, nil
}

// AddPlanItems decides on adding items to an open batch whose catalogue is
// current (the caller checks that the batch exists). Numbering and codes must be
// unique across the whole batch. Errors: *domain.FieldError naming the field
// ("items", "items[0].item").
func AddPlanItems(current []TaskItem, cmd PlanItemsAdded) (PlanItemsAdded, error) {
	cmd.BatchID = strings.TrimSpace(cmd.BatchID)
	if err := ValidateBatchID(cmd.BatchID); err != nil {
		return PlanItemsAdded{}, err
	}
	if len(cmd.Items) == 0 {
		return PlanItemsAdded{}, domain.Invalid("items", "请至少填写一项任务（项目）", "no items to add")
	}
	items, err := checkItems(current, cmd.Items)
	if err != nil {
		return PlanItemsAdded{}, err
	}
	cmd.Items = items
	return cmd, nil
}

// checkItems validates items to be added after current and returns them trimmed.
func checkItems(current, items []TaskItem) ([]TaskItem, error) {
	if len(current)+len(items) > MaxItemsPerBatch {
		return nil, domain.Invalid("items", fmt.Sprintf("一个批次最多%d项任务（项目）", MaxItemsPerBatch),
			fmt.Sprintf("batch would have %d items, more than %d", len(current)+len(items), MaxItemsPerBatch))
	}
	itemAt := map[string]int{} // numbering → index in items; -1 for the current catalogue
	codeAt := map[string]int{}
	for _, it := range current {
		itemAt[it.Item], codeAt[it.Code] = -1, -1
	}
	out := make([]TaskItem, len(items))
	for i, it := range items {
		it = TaskItem{
			Item: strings.TrimSpace(it.Item), Code: strings.TrimSpace(it.Code), Name: strings.TrimSpace(it.Name),
			Target: it.Target, Unit: strings.TrimSpace(it.Unit), Kind: Kind(strings.TrimSpace(string(it.Kind))),
		}
		if err := checkItem(i, it, itemAt, codeAt); err != nil {
			return nil, err
		}
		itemAt[it.Item], codeAt[it.Code] = i, i
		out[i] = it
	}
	return out, nil
}

// checkItem validates one item; seen maps numbering and codes already taken.
func checkItem(i int, it TaskItem, itemAt, codeAt map[string]int) error {
	at := fmt.Sprintf("items[%d]", i)
	row := fmt.Sprintf("第%d项任务（项目）", i+1)
	taken := func(where int) string {
		if where < 0 {
			return "本批次已有"
		}
		return fmt.Sprintf("与第%d项重复", where+1)
	}
	switch {
	case it.Item == "":
		return domain.Invalid(at+".item", row+"：请填写序号（如 1 或 2.1）", at+": item is required")
	case !itemPattern.MatchString(it.Item):
		return domain.Invalid(at+".item", fmt.Sprintf("%s：序号“%s”格式不对，应为数字，可用“.”分级，如 1 或 2.1", row, shorten(it.Item)),
			fmt.Sprintf("%s: item %q is malformed", at, shorten(it.Item)))
	}
	if where, dup := itemAt[it.Item]; dup {
		return domain.Invalid(at+".item", fmt.Sprintf("%s：序号 %s %s", row, it.Item, taken(where)),
			fmt.Sprintf("%s: item %s is taken", at, it.Item))
	}
	switch {
	case it.Code == "":
		return domain.Invalid(at+".code", row+"：请填写任务代码", at+": code is required")
	case !codePattern.MatchString(it.Code):
		return domain.Invalid(at+".code", fmt.Sprintf("%s：任务代码“%s”应为2至16位大写字母或数字，如 YZYX", row, shorten(it.Code)),
			fmt.Sprintf("%s: code %q is malformed", at, shorten(it.Code)))
	}
	if where, dup := codeAt[it.Code]; dup {
		return domain.Invalid(at+".code", fmt.Sprintf("%s：任务代码 %s %s", row, it.Code, taken(where)),
			fmt.Sprintf("%s: code %s is taken", at, it.Code))
	}
	switch {
	case it.Name == "":
		return domain.Invalid(at+".name", row+"：请填写任务名称", at+": name is required")
	case utf8.RuneCountInString(it.Name) > MaxItemNameRunes:
		return domain.Invalid(at+".name", fmt.Sprintf("%s：任务名称不能超过%d个字", row, MaxItemNameRunes),
			fmt.Sprintf("%s: name longer than %d characters", at, MaxItemNameRunes))
	}
	switch it.Kind {
	case KindSelection:
		switch {
		case it.Target <= 0:
			return domain.Invalid(at+".target", row+"：遴选类任务须填写全国目标数量（正整数）",
				fmt.Sprintf("%s: selection target %d is not positive", at, it.Target))
		case it.Target > MaxTarget:
			return domain.Invalid(at+".target", fmt.Sprintf("%s：目标数量不能超过%d", row, MaxTarget),
				fmt.Sprintf("%s: target %d above %d", at, it.Target, MaxTarget))
		case it.Unit == "":
			return domain.Invalid(at+".unit", row+"：遴选类任务须填写计量单位，如 所、个、门", at+": unit is required")
		case utf8.RuneCountInString(it.Unit) > MaxUnitRunes:
			return domain.Invalid(at+".unit", fmt.Sprintf("%s：计量单位不能超过%d个字", row, MaxUnitRunes),
				fmt.Sprintf("%s: unit longer than %d characters", at, MaxUnitRunes))
		}
	case KindDevelopment:
		// A development task has no national target to count against; its unit
		// (项标准, 种教材) names what a province's 承接数量 counts.
		switch {
		case it.Target != 0:
			return domain.Invalid(at+".target", row+"：开发类任务没有目标数量，请留空或填 0",
				fmt.Sprintf("%s: development task with target %d", at, it.Target))
		case utf8.RuneCountInString(it.Unit) > MaxUnitRunes:
			return domain.Invalid(at+".unit", fmt.Sprintf("%s：计量单位不能超过%d个字", row, MaxUnitRunes),
				fmt.Sprintf("%s: unit longer than %d characters", at, MaxUnitRunes))
		}
	case "":
		return domain.Invalid(at+".kind", row+"：请填写任务类别：selection（遴选类）或 development（开发类）", at+": kind is required")
	default:
		return domain.Invalid(at+".kind", row+"：任务类别应为 selection（遴选类）或 development（开发类）",
			fmt.Sprintf("%s: unknown kind %q", at, shorten(string(it.Kind))))
	}
	return nil
}

// csvColumns are the columns of a catalogue in CSV, as in
// reference/key-tasks-2022-batch1.csv.
var csvColumns = []string{"item", "code", "name", "target", "unit", "kind"}

// ParseTaskItemsCSV reads a catalogue in CSV with the header
// item,code,name,target,unit,kind (in any order; a UTF-8 byte-order mark, as
// spreadsheet programs write, is ignored). An empty target is 0. It checks the
// shape of the file, not the items: OpenPlanBatch and AddPlanItems do that, so a
// catalogue sent as CSV and one sent as JSON meet the same rules. Errors name the
// field of the item a row becomes ("items[2].target") and, in the message, the
// CSV line. Errors: *domain.FieldError.
func ParseTaskItemsCSV(r io.Reader) ([]TaskItem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with a clearer message
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, domain.Invalid("items", "CSV 为空：第一行应为表头 item,code,name,target,unit,kind", "empty CSV")
	}
	if err != nil {
		return nil, csvReadError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch _, dup := col[h]; {
		case dup:
			return nil, domain.Invalid("items", fmt.Sprintf("CSV 表头的列“%s”重复", shorten(h)), fmt.Sprintf("repeated column %q", shorten(h)))
		case !slices.Contains(csvColumns, h):
			return nil, domain.Invalid("items", fmt.Sprintf("CSV 表头有未知的列“%s”，应为 item,code,name,target,unit,kind", shorten(h)),
				fmt.Sprintf("unknown column %q", shorten(h)))
		}
		col[h] = i
	}
	for _, h := range csvColumns {
		if _, ok := col[h]; !ok {
			return nil, domain.Invalid("items", fmt.Sprintf("CSV 表头缺少列“%s”，应为 item,code,name,target,unit,kind", h),
				fmt.Sprintf("missing column %q", h))
		}
	}
	var items []TaskItem
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvReadError(err)
		}
		line, _ := cr.FieldPos(0)
		i := len(items)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line, often at the end
		}
		if len(rec) != len(header) {
			return nil, domain.Invalid(fmt.Sprintf("items[%d]", i),
				fmt.Sprintf("CSV 第%d行有%d列，表头有%d列", line, len(rec), len(header)),
				fmt.Sprintf("line %d has %d fields, header has %d", line, len(rec), len(header)))
		}
		if len(items) >= MaxItemsPerBatch {
			return nil, domain.Invalid("items", fmt.Sprintf("一个批次最多%d项任务（项目）", MaxItemsPerBatch), "too many CSV rows")
		}
		get := func(h string) string { return strings.TrimSpace(rec[col[h]]) }
		it := TaskItem{Item: get("item"), Code: get("code"), Name: get("name"), Unit: get("unit"), Kind: Kind(get("kind"))}
		if t := get("target"); t != "" {
			n, err := strconv.ParseInt(t, 10, 64)
			if err != nil || n < 0 {
				return nil, domain.Invalid(fmt.Sprintf("items[%d].target", i),
					fmt.Sprintf("CSV 第%d行：目标数量“%s”应为非负整数", line, shorten(t)),
					fmt.Sprintf("line %d: target %q is not a non-negative integer", line, shorten(t)))
			}
			it.Target = n
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, domain.Invalid("items", "CSV 中没有任务（项目）：表头之后至少应有一行", "CSV has a header but no rows")
	}
	return items, nil
}

func csvReadError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return domain.Invalid("items", fmt.Sprintf("CSV 第%d行格式错误（如引号不成对）", pe.Line), "CSV: "+err.Error())
	}
	return domain.Invalid("items", "无法读取 CSV", "CSV: "+err.Error())
}

// shorten bounds a client's string before it is echoed in a message.
func shorten(s string) string {
	const max = 32
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}
