package intent_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"keytask/domain"
	"keytask/domain/intent"
	"keytask/reference"
)

// refBatch1 reads the notice's first batch from the embedded reference CSV.
func refBatch1(t *testing.T) []intent.TaskItem {
	t.Helper()
	items, err := intent.ParseTaskItemsCSV(bytes.NewReader(reference.KeyTasks2022Batch1))
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestParseTaskItemsCSV(t *testing.T) {
	t.Run("ReferenceBatch", func(t *testing.T) {
		items := refBatch1(t)
		if len(items) != 8 {
			t.Fatalf("%d items, want 8", len(items))
		}
		want := intent.TaskItem{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection}
		if items[1] != want {
			t.Fatalf("items[1] = %+v, want %+v", items[1], want)
		}
		dev := intent.TaskItem{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Unit: "项标准", Kind: intent.KindDevelopment}
		if items[4] != dev {
			t.Fatalf("items[4] = %+v, want %+v", items[4], dev)
		}
		if _, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: "2022-1", Name: "第一批", Items: items}); err != nil {
			t.Fatalf("the reference batch must be valid: %v", err)
		}
	})
	t.Run("ColumnsInAnyOrderWithBOM", func(t *testing.T) {
		items, err := intent.ParseTaskItemsCSV(strings.NewReader("\ufeffkind,item,code,name,unit,target\r\nselection,1,SZJD,基地,个,30\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0] != (intent.TaskItem{Item: "1", Code: "SZJD", Name: "基地", Target: 30, Unit: "个", Kind: intent.KindSelection}) {
			t.Fatalf("items = %+v", items)
		}
	})
	for _, c := range []struct {
		name, csv, field string
	}{
		{"ErrEmpty", "", "items"},
		{"ErrHeaderOnly", "item,code,name,target,unit,kind\n", "items"},
		{"ErrMissingColumn", "item,code,name,target,kind\n1,A1,x,1,selection\n", "items"},
		{"ErrUnknownColumn", "item,code,name,target,unit,kind,note\n1,A1,x,1,个,selection,n\n", "items"},
		{"ErrRepeatedColumn", "item,code,name,target,unit,kind,code\n", "items"},
		{"ErrTarget", "item,code,name,target,unit,kind\n1,AA,x,1,个,selection\n2,BB,y,三十,个,selection\n", "items[1].target"},
		{"ErrNegativeTarget", "item,code,name,target,unit,kind\n1,AA,x,-1,个,selection\n", "items[0].target"},
		{"ErrFieldCount", "item,code,name,target,unit,kind\n1,AA,x,1,个\n", "items[0]"},
		{"ErrQuote", "item,code,name,target,unit,kind\n1,AA,\"x,1,个,selection\n", "items"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := intent.ParseTaskItemsCSV(strings.NewReader(c.csv))
			fe := pFieldError(t, err)
			if fe.Field != c.field {
				t.Fatalf("field %q, want %q (%s)", fe.Field, c.field, fe.Message)
			}
			if !pHasHan(fe.Message) {
				t.Fatalf("message %q is not Chinese", fe.Message)
			}
		})
	}
	t.Run("ErrTargetNamesCSVLine", func(t *testing.T) {
		_, err := intent.ParseTaskItemsCSV(strings.NewReader("item,code,name,target,unit,kind\n1,AA,x,1,个,selection\n2,BB,y,abc,个,selection\n"))
		if fe := pFieldError(t, err); !strings.Contains(fe.Message, "第3行") {
			t.Fatalf("message %q does not name CSV line 3", fe.Message)
		}
	})
}

func pSel(item, code string) intent.TaskItem {
	return intent.TaskItem{Item: item, Code: code, Name: "任务" + item, Target: 10, Unit: "所", Kind: intent.KindSelection}
}

func TestOpenPlanBatch(t *testing.T) {
	ok := intent.PlanBatchOpened{BatchID: "2022-1", Name: " 第一批 ", Items: []intent.TaskItem{
		pSel("1", "AA"),
		{Item: " 2 ", Code: "BB", Name: "开发教材", Kind: intent.KindDevelopment},
	}}
	t.Run("OK", func(t *testing.T) {
		got, err := intent.OpenPlanBatch(false, ok)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "第一批" || got.Items[1].Item != "2" {
			t.Fatalf("not trimmed: %+v", got)
		}
	})
	t.Run("ErrExists", func(t *testing.T) {
		_, err := intent.OpenPlanBatch(true, ok)
		var ce *domain.ConflictError
		if !errors.As(err, &ce) || ce.Field != "batch_id" {
			t.Fatalf("err = %v, want a conflict on batch_id", err)
		}
	})
	cases := []struct {
		name  string
		edit  func(*intent.PlanBatchOpened)
		field string
	}{
		{"ErrBatchID", func(b *intent.PlanBatchOpened) { b.BatchID = "第一批" }, "batch_id"},
		{"ErrBatchIDRequired", func(b *intent.PlanBatchOpened) { b.BatchID = " " }, "batch_id"},
		{"ErrName", func(b *intent.PlanBatchOpened) { b.Name = "" }, "name"},
		{"ErrNoItems", func(b *intent.PlanBatchOpened) { b.Items = nil }, "items"},
		{"ErrItemRequired", func(b *intent.PlanBatchOpened) { b.Items[1].Item = "" }, "items[1].item"},
		{"ErrItemFormat", func(b *intent.PlanBatchOpened) { b.Items[1].Item = "二" }, "items[1].item"},
		{"ErrItemRepeated", func(b *intent.PlanBatchOpened) { b.Items[1].Item = "1" }, "items[1].item"},
		{"ErrCodeLower", func(b *intent.PlanBatchOpened) { b.Items[0].Code = "yzyx" }, "items[0].code"},
		{"ErrCodeShort", func(b *intent.PlanBatchOpened) { b.Items[0].Code = "A" }, "items[0].code"},
		{"ErrCodeLong", func(b *intent.PlanBatchOpened) { b.Items[0].Code = strings.Repeat("A", 17) }, "items[0].code"},
		{"ErrCodeRepeated", func(b *intent.PlanBatchOpened) { b.Items[1].Code = "AA" }, "items[1].code"},
		{"ErrNameRequired", func(b *intent.PlanBatchOpened) { b.Items[0].Name = " " }, "items[0].name"},
		{"ErrKind", func(b *intent.PlanBatchOpened) { b.Items[0].Kind = "training" }, "items[0].kind"},
		{"ErrKindRequired", func(b *intent.PlanBatchOpened) { b.Items[0].Kind = "" }, "items[0].kind"},
		{"ErrSelectionTarget", func(b *intent.PlanBatchOpened) { b.Items[0].Target = 0 }, "items[0].target"},
		{"ErrSelectionUnit", func(b *intent.PlanBatchOpened) { b.Items[0].Unit = "" }, "items[0].unit"},
		{"ErrDevelopmentTarget", func(b *intent.PlanBatchOpened) { b.Items[1].Target = 5 }, "items[1].target"},
		{"ErrDevelopmentUnitTooLong", func(b *intent.PlanBatchOpened) { b.Items[1].Unit = "本本本本本本本本本" }, "items[1].unit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := ok
			cmd.Items = append([]intent.TaskItem(nil), ok.Items...)
			c.edit(&cmd)
			_, err := intent.OpenPlanBatch(false, cmd)
			fe := pFieldError(t, err)
			if fe.Field != c.field {
				t.Fatalf("field %q, want %q (%v)", fe.Field, c.field, fe)
			}
			if !pHasHan(fe.Message) || fe.Message == fe.Detail {
				t.Fatalf("message %q: want Chinese, distinct from the detail", fe.Message)
			}
		})
	}
	t.Run("ErrInvalidBeforeConflict", func(t *testing.T) {
		cmd := ok
		cmd.Name = ""
		if fe := pFieldError(t, func() error { _, err := intent.OpenPlanBatch(true, cmd); return err }()); fe.Field != "name" {
			t.Fatalf("field %q", fe.Field)
		}
	})
}

func TestAddPlanItems(t *testing.T) {
	current := []intent.TaskItem{pSel("1", "AA"), pSel("2", "BB")}
	t.Run("OK", func(t *testing.T) {
		got, err := intent.AddPlanItems(current, intent.PlanItemsAdded{BatchID: "b", Items: []intent.TaskItem{pSel("3", "CC")}})
		if err != nil || len(got.Items) != 1 {
			t.Fatalf("%+v, %v", got, err)
		}
	})
	for _, c := range []struct {
		name  string
		items []intent.TaskItem
		field string
	}{
		{"ErrNone", nil, "items"},
		{"ErrItemTaken", []intent.TaskItem{pSel("3", "CC"), pSel("2", "DD")}, "items[1].item"},
		{"ErrCodeTaken", []intent.TaskItem{pSel("3", "AA")}, "items[0].code"},
		{"ErrRepeatedWithin", []intent.TaskItem{pSel("3", "CC"), pSel("4", "CC")}, "items[1].code"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := intent.AddPlanItems(current, intent.PlanItemsAdded{BatchID: "b", Items: c.items})
			if fe := pFieldError(t, err); fe.Field != c.field {
				t.Fatalf("field %q, want %q (%v)", fe.Field, c.field, fe)
			}
		})
	}
	t.Run("ErrTooMany", func(t *testing.T) {
		var many []intent.TaskItem
		for i := range intent.MaxItemsPerBatch - 1 {
			many = append(many, pSel("9."+strconv.Itoa(i), "X"+strconv.Itoa(i)))
		}
		_, err := intent.AddPlanItems(current, intent.PlanItemsAdded{BatchID: "b", Items: many})
		if fe := pFieldError(t, err); fe.Field != "items" {
			t.Fatalf("field %q", fe.Field)
		}
	})
}

func pFieldError(t *testing.T, err error) *domain.FieldError {
	t.Helper()
	var fe *domain.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *domain.FieldError", err)
	}
	return fe
}

func pHasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}
