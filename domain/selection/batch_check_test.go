package selection

import (
	"errors"
	"strings"
	"testing"

	"keytask/domain"
)

func TestCheckRecommendable(t *testing.T) {
	s := BatchState{SelectionBatchOpened: SelectionBatchOpened{TaskItem: "2.1"}}
	ok := ApplicationFacts{ID: "a", Exists: true, Status: StatusSubmitted, Province: "11", TaskItem: "2.1"}
	for _, c := range []struct {
		f       ApplicationFacts
		message string
	}{
		{ApplicationFacts{ID: "b"}, "不存在"},
		{ApplicationFacts{ID: "b", Exists: true, Status: StatusDraft, Province: "11", TaskItem: "2.1"}, "尚未提交"},
		{ApplicationFacts{ID: "b", Exists: true, Status: StatusReturned, Province: "11", TaskItem: "2.1"}, "已退回修改"},
		{ApplicationFacts{ID: "b", Exists: true, Status: StatusSubmitted, Province: "44", TaskItem: "2.1"}, "属于广东省，不能由北京市推荐"},
		{ApplicationFacts{ID: "b", Exists: true, Status: StatusSubmitted, Province: "11", TaskItem: "2.2"}, "任务 2.2"},
	} {
		err := s.CheckRecommendable("11", []string{"a", "b"}, []ApplicationFacts{ok, c.f})
		var fe *domain.FieldError
		if !errors.As(err, &fe) || fe.Field != "applications[1]" || !strings.Contains(fe.Message, c.message) {
			t.Errorf("%+v: %v, want a field error on applications[1] with %q", c.f, err, c.message)
		}
	}
	if err := s.CheckRecommendable("11", []string{"a"}, []ApplicationFacts{ok}); err != nil {
		t.Fatal(err)
	}
	if err := CheckResubmitted(ApplicationFacts{ID: "a", Exists: true, Status: StatusReturned}); err == nil {
		t.Fatal("a returned application not yet submitted again was accepted")
	}
}
