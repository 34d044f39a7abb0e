// Package identity holds keytask's users: who they are (a Principal with a Role
// and the organisation it acts for), the events of a user's stream, and the rules
// that decide registration and bearer tokens. It does no I/O.
package identity

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"keytask/domain"
)

// Role is what a user is to the platform; it decides, with the organisation, what
// the user may see and do (see package policy).
type Role string

// The roles of DESIGN.md, "Users and what they do".
const (
	RoleMinistry  Role = "ministry"
	RoleProvince  Role = "province"
	RoleSchool    Role = "school"
	RoleExpert    Role = "expert"
	RoleAuditor   Role = "auditor"
	RoleEvaluator Role = "evaluator"
)

// Roles lists every role in a stable order.
var Roles = []Role{RoleMinistry, RoleProvince, RoleSchool, RoleExpert, RoleAuditor, RoleEvaluator}

var roleLabels = map[Role]string{
	RoleMinistry:  "部",
	RoleProvince:  "省级人社厅",
	RoleSchool:    "技工院校",
	RoleExpert:    "专家",
	RoleAuditor:   "审计",
	RoleEvaluator: "第三方评估机构",
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	_, ok := roleLabels[r]
	return ok
}

// Label is the role's name for users, in Simplified Chinese ("" for an unknown role).
func (r Role) Label() string { return roleLabels[r] }

// MinistryOrganisation is the organisation of every ministry user.
const MinistryOrganisation = "MOHRSS"

// AdministratorID is the ministry administrator the first start creates.
const AdministratorID = "admin"

// IsAdministrator reports whether userID is an administrator's account, which
// only an administrator may administer (reset its password).
func IsAdministrator(userID string) bool { return userID == AdministratorID }

// Principal is an authenticated user: who acts, in which role, for which organisation.
type Principal struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	// Organisation is what the user acts for: MinistryOrganisation for the ministry,
	// a two-digit province code (see Provinces) for a province, a school id for a
	// school, and the work unit's name for experts, auditors and evaluators.
	Organisation string `json:"organisation"`
}

// Limits on a principal's fields.
const (
	maxNameRunes = 50
	maxOrgRunes  = 100
)

// userIDPattern keeps ids safe inside stream names, URLs and logs.
var userIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// schoolIDPattern keeps school ids comparable byte for byte: the policy matches a
// school user to its resources by this id.
var schoolIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Normalize trims surrounding white space, which users paste by accident.
func (p Principal) Normalize() Principal {
	p.UserID = strings.TrimSpace(p.UserID)
	p.Name = strings.TrimSpace(p.Name)
	p.Role = Role(strings.TrimSpace(string(p.Role)))
	p.Organisation = strings.TrimSpace(p.Organisation)
	return p
}

// Validate returns a *domain.FieldError naming the first field that is missing or
// malformed, or nil.
func (p Principal) Validate() error {
	if err := ValidateUserID(p.UserID); err != nil {
		return err
	}
	switch {
	case p.Name == "":
		return domain.Invalid("name", "名称不能为空", "name is required")
	case utf8.RuneCountInString(p.Name) > maxNameRunes:
		return domain.Invalid("name", fmt.Sprintf("名称不能超过%d个字", maxNameRunes),
			fmt.Sprintf("name has more than %d characters", maxNameRunes))
	case p.Role == "":
		return domain.Invalid("role", "请选择角色", "role is required")
	case !p.Role.Valid():
		return domain.Invalid("role", "角色无效，应为 ministry、province、school、expert、auditor、evaluator 之一",
			fmt.Sprintf("unknown role %q", p.Role))
	}
	return validateOrganisation(p.Role, p.Organisation)
}

// ValidateUserID returns a *domain.FieldError for field "user_id" unless id is a
// well-formed user id.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return domain.Invalid("user_id", "用户ID不能为空", "user_id is required")
	case !userIDPattern.MatchString(id):
		return domain.Invalid("user_id", "用户ID只能包含小写字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位",
			fmt.Sprintf("user_id %q is malformed", id))
	}
	return nil
}

func validateOrganisation(r Role, org string) error {
	const field = "organisation"
	if org == "" {
		return domain.Invalid(field, "所属单位不能为空", "organisation is required")
	}
	switch r {
	case RoleMinistry:
		if org != MinistryOrganisation {
			return domain.Invalid(field, "部级用户的所属单位应为 "+MinistryOrganisation,
				fmt.Sprintf("ministry organisation must be %s, not %q", MinistryOrganisation, org))
		}
	case RoleProvince:
		if _, ok := Provinces[org]; !ok {
			return domain.Invalid(field, "省级用户的所属单位应为两位省级行政区划代码，如 11（北京市）、66（新疆生产建设兵团）",
				fmt.Sprintf("province organisation %q is not a province code", org))
		}
	case RoleSchool:
		if !schoolIDPattern.MatchString(org) {
			return domain.Invalid(field, "学校用户的所属单位应为学校标识，只能包含字母、数字、“.”、“_”和“-”，最长64位",
				fmt.Sprintf("school organisation %q is not a school id", org))
		}
	default:
		if utf8.RuneCountInString(org) > maxOrgRunes {
			return domain.Invalid(field, fmt.Sprintf("所属单位不能超过%d个字", maxOrgRunes),
				fmt.Sprintf("organisation has more than %d characters", maxOrgRunes))
		}
	}
	return nil
}

// IsSchoolID reports whether id has the form of a school id: what a school
// user's Organisation holds and the school register keys its schools by.
func IsSchoolID(id string) bool { return schoolIDPattern.MatchString(id) }
