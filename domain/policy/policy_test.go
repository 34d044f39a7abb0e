package policy_test

import (
	"errors"
	"fmt"
	"testing"

	"keytask/domain/identity"
	"keytask/domain/policy"
)

var (
	ministry  = identity.Principal{UserID: "m1", Name: "部", Role: identity.RoleMinistry, Organisation: "MOHRSS"}
	auditor   = identity.Principal{UserID: "a1", Name: "审计", Role: identity.RoleAuditor, Organisation: "审计署"}
	province  = identity.Principal{UserID: "p11", Name: "北京", Role: identity.RoleProvince, Organisation: "11"}
	school    = identity.Principal{UserID: "s1", Name: "学校", Role: identity.RoleSchool, Organisation: "sch-1101"}
	expert    = identity.Principal{UserID: "e1", Name: "专家", Role: identity.RoleExpert, Organisation: "某大学"}
	evaluator = identity.Principal{UserID: "v1", Name: "评估", Role: identity.RoleEvaluator, Organisation: "某评估机构"}
)

// Outcomes, short so the matrix reads as a table.
var (
	ok = error(nil)
	F  = policy.ErrForbidden
	NF = policy.ErrNotFound
)

// application is a school's application, assigned to the given assessors.
func application(province, school string, assigned ...string) policy.Resource {
	return policy.Resource{Kind: policy.KindApplication, ID: "app-1", Province: province, School: school, Assigned: assigned}
}

// project is a tracked project, readable by the given evaluators.
func project(province, school string, assigned ...string) policy.Resource {
	return policy.Resource{Kind: policy.KindProject, ID: "B1.app-1", Province: province, School: school, Assigned: assigned}
}

func inbox(user string) policy.Resource {
	return policy.Resource{Kind: policy.KindInbox, ID: user, Subject: user}
}

func TestDecideMatrix(t *testing.T) {
	cases := []struct {
		p           identity.Principal
		owner       string // "same" or "other": whose resource, relative to p
		r           policy.Resource
		read, write error
		administer  error
	}{
		{ministry, "same", application("11", "sch-1101"), ok, F, ok},
		{ministry, "same", policy.Resource{Kind: policy.KindIntentForm, Province: "11"}, ok, F, ok},
		{ministry, "same", policy.Resource{Kind: policy.KindRecommendation, Province: "11"}, ok, F, ok},
		{province, "same", policy.Resource{Kind: policy.KindRecommendation, Province: "11"}, ok, ok, F},
		{province, "other", policy.Resource{Kind: policy.KindRecommendation, Province: "12"}, NF, NF, F},
		{ministry, "other", policy.Resource{Kind: policy.KindUser}, ok, ok, ok},
		{auditor, "same", application("11", "sch-1101"), ok, F, F},
		{auditor, "other", policy.Resource{Kind: policy.KindAudit}, ok, F, F},
		{province, "same", application("11", "sch-1101"), ok, ok, F},
		{province, "same", policy.Resource{Kind: policy.KindIntentForm, Province: "11"}, ok, ok, F},
		{province, "other", application("12", "sch-1201"), NF, NF, F},
		{province, "other", policy.Resource{Kind: policy.KindIntentForm, Province: "12"}, NF, NF, F},
		{school, "same", application("11", "sch-1101"), ok, ok, F},
		{school, "other", application("11", "sch-1102"), NF, NF, F},
		{expert, "same", policy.Resource{Kind: policy.KindReview, Province: "11", Assigned: []string{"e1"}}, ok, ok, F},
		{expert, "same", application("11", "sch-1101", "e1"), ok, F, F},
		{expert, "other", policy.Resource{Kind: policy.KindReview, Province: "11", Assigned: []string{"e2"}}, NF, NF, F},
		{expert, "other", application("11", "sch-1101", "e2"), NF, F, F},
		{evaluator, "same", policy.Resource{Kind: policy.KindEvaluation, Assigned: []string{"v1"}}, ok, ok, F},
		{evaluator, "same", application("11", "sch-1101", "v1"), ok, F, F},
		{evaluator, "other", policy.Resource{Kind: policy.KindEvaluation, Assigned: []string{"v2"}}, NF, NF, F},
		{ministry, "same", project("11", "sch-1101"), ok, ok, ok},
		{auditor, "same", project("11", "sch-1101"), ok, F, F},
		{province, "same", project("11", "sch-1101"), ok, ok, F},
		{province, "other", project("12", "sch-1201"), NF, NF, F},
		{school, "same", project("11", "sch-1101"), ok, ok, F},
		{school, "other", project("11", "sch-1102"), NF, NF, F},
		{evaluator, "same", project("11", "sch-1101", "v1"), ok, F, F},
		{evaluator, "other", project("11", "sch-1101", "v2"), NF, F, F},
		{evaluator, "same", policy.Resource{Kind: policy.KindEvaluation, Province: "11", Assigned: []string{"v1"}}, ok, ok, F},
		{expert, "other", project("11", "sch-1101"), F, F, F},
		{evaluator, "other", project("11", "sch-1101"), NF, F, F},
		{school, "same", inbox("s1"), ok, ok, NF},
		{ministry, "other", inbox("s1"), NF, NF, NF},
		{auditor, "other", inbox("s1"), NF, NF, NF},
		{auditor, "same", inbox("a1"), ok, ok, NF},
	}
	for _, c := range cases {
		want := map[policy.Action]error{policy.ActionRead: c.read, policy.ActionWrite: c.write, policy.ActionAdminister: c.administer}
		for _, a := range policy.Actions {
			name := fmt.Sprintf("%s/%s/%s/%s", c.p.Role, c.owner, c.r.Kind, a)
			t.Run(name, func(t *testing.T) {
				check(t, policy.Decide(c.p, a, c.r), want[a])
			})
		}
	}
}

// Rules that the matrix's owner axis does not show.
func TestDecideRules(t *testing.T) {
	national := policy.Resource{Kind: policy.KindUser}
	cases := []struct {
		name string
		p    identity.Principal
		a    policy.Action
		r    policy.Resource
		want error
	}{
		{"ScopedRoleCannotReadNational", province, policy.ActionRead, national, F},
		{"SchoolCannotReadNational", school, policy.ActionRead, policy.Resource{Kind: policy.KindStream}, F},
		{"ExpertCannotReadUnassignable", expert, policy.ActionRead, national, F},
		{"AnyoneReadsOwnAccount", school, policy.ActionRead, policy.Resource{Kind: policy.KindUser, Subject: "s1"}, ok},
		{"ExpertReadsOwnStream", expert, policy.ActionRead, policy.Resource{Kind: policy.KindStream, Subject: "e1"}, ok},
		{"NobodyWritesOwnAccountByBeingItsSubject", school, policy.ActionWrite, policy.Resource{Kind: policy.KindUser, Subject: "s1"}, F},
		{"OthersAccountIsNational", province, policy.ActionRead, policy.Resource{Kind: policy.KindUser, Subject: "p12"}, F},
		{"PublicReadable", school, policy.ActionRead, policy.Resource{Kind: policy.KindApplication, Public: true}, ok},
		{"PublicNotWritable", school, policy.ActionWrite, policy.Resource{Kind: policy.KindApplication, Public: true}, F},
		{"ConflictedExpertSeesNothing", expert, policy.ActionRead,
			policy.Resource{Kind: policy.KindReview, Assigned: []string{"e1"}, Conflicts: []string{"e1"}}, NF},
		{"ConflictedExpertWritesNothing", expert, policy.ActionWrite,
			policy.Resource{Kind: policy.KindReview, Assigned: []string{"e1"}, Conflicts: []string{"e1"}}, NF},
		{"OtherExpertsConflictIsNotMine", expert, policy.ActionWrite,
			policy.Resource{Kind: policy.KindReview, Assigned: []string{"e1", "e2"}, Conflicts: []string{"e2"}}, ok},
		{"ProvinceCannotScoreItsOwnSchool", province, policy.ActionWrite,
			policy.Resource{Kind: policy.KindReview, Province: "11", School: "sch-1101", Assigned: []string{"e1"}}, F},
		{"SchoolCannotEvaluateItself", school, policy.ActionWrite,
			policy.Resource{Kind: policy.KindEvaluation, Province: "11", School: "sch-1101"}, F},
		{"ExpertCannotWriteEvaluation", expert, policy.ActionWrite,
			policy.Resource{Kind: policy.KindEvaluation, Assigned: []string{"e1"}}, F},
		{"EvaluatorCannotWriteReview", evaluator, policy.ActionWrite,
			policy.Resource{Kind: policy.KindReview, Assigned: []string{"v1"}}, F},
		{"ProvinceWithoutOrganisationSeesNothing", identity.Principal{UserID: "x", Role: identity.RoleProvince}, policy.ActionRead,
			policy.Resource{Kind: policy.KindApplication, School: "sch-1"}, F},
		{"UnknownRole", identity.Principal{UserID: "x", Role: "root", Organisation: "MOHRSS"}, policy.ActionRead, national, F},
		{"NoUser", identity.Principal{Role: identity.RoleMinistry, Organisation: "MOHRSS"}, policy.ActionRead, national, F},
		{"UnknownAction", ministry, policy.Action("delete"), national, F},
		{"OwnCredentialWritable", auditor, policy.ActionWrite, policy.Resource{Kind: policy.KindCredential, Subject: "a1"}, ok},
		{"OthersCredentialNotEvenForMinistry", ministry, policy.ActionWrite, policy.Resource{Kind: policy.KindCredential, Subject: "p11"}, F},
		{"CredentialWithoutSubject", school, policy.ActionWrite, policy.Resource{Kind: policy.KindCredential}, F},
		{"CredentialNotAdministered", school, policy.ActionAdminister, policy.Resource{Kind: policy.KindCredential, Subject: "s1"}, F},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { check(t, policy.Decide(c.p, c.a, c.r), c.want) })
	}
}

func check(t *testing.T, got, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("denied: %v", got)
	case want != nil && !errors.Is(got, want):
		t.Fatalf("got %v, want %v", got, want)
	}
}

// An administrator's account is administered by an administrator alone: other
// ministry staff administer every other account, but not that one.
func TestAdministratorAccount(t *testing.T) {
	admin := identity.Principal{UserID: identity.AdministratorID, Name: "部管理员", Role: identity.RoleMinistry, Organisation: "MOHRSS"}
	adminAccount := policy.Resource{Kind: policy.KindUser, ID: identity.AdministratorID, Administrator: true}
	other := policy.Resource{Kind: policy.KindUser, ID: "p11"}
	for _, c := range []struct {
		p    identity.Principal
		r    policy.Resource
		want error
	}{
		{admin, adminAccount, ok}, {ministry, adminAccount, F}, {auditor, adminAccount, F},
		{admin, other, ok}, {ministry, other, ok},
	} {
		if err := policy.Decide(c.p, policy.ActionAdminister, c.r); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s administers %s: %v, want %v", c.p.UserID, c.r.ID, err, c.want)
		}
	}
	if err := policy.Decide(ministry, policy.ActionRead, adminAccount); err != nil {
		t.Errorf("ministry staff may still read the administrator's account: %v", err)
	}
}
