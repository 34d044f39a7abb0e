// Package policy is the one place that decides who may do what to which resource
// (DESIGN.md rule 9). Every HTTP route and every command asks Decide; nothing else
// compares roles or organisations.
package policy

import (
	"errors"
	"fmt"
	"slices"

	"keytask/domain/identity"
)

// Action is what a principal wants to do to a resource.
type Action string

// Actions, from least to most power.
const (
	ActionRead       Action = "read"
	ActionWrite      Action = "write"
	ActionAdminister Action = "administer" // open rounds, register users, adjudicate: the ministry's work
)

// Actions lists every action.
var Actions = []Action{ActionRead, ActionWrite, ActionAdminister}

// Kind is the kind of a resource.
type Kind string

// Kinds of resources.
const (
	KindStream      Kind = "stream"      // an event stream as a timeline
	KindUser        Kind = "user"        // a user account, or the list of them
	KindIntentForm  Kind = "intent-form" // a province's undertaking intent form
	KindApplication Kind = "application" // a school's application
	// KindRecommendation is a province's ranked recommendation of applications
	// (组织推荐) in a selection batch.
	KindRecommendation Kind = "recommendation"
	KindReview         Kind = "review"     // an expert's scoring of an application
	KindEvaluation     Kind = "evaluation" // a third-party evaluation of a project
	KindAudit          Kind = "audit"      // log verification and replay
	// KindPerformanceCollection is a year's national collection;
	// KindPerformanceReport one project's yearly report, a declaration its
	// school writes and the ministry returns or locks.
	KindPerformanceCollection Kind = "performance-collection"
	KindPerformanceReport     Kind = "performance-report"
	// KindInbox is a user's own notices; Subject is that user. Only the user
	// reads it and marks it read, whatever the role.
	KindInbox Kind = "inbox"
	// KindProject is a published project under tracking (inspections,
	// evaluation, flags, acceptance); owned by its school and province and
	// readable by the evaluators assigned to it.
	KindProject Kind = "project"
	// KindCredential is a user's own login: their password and sessions. Its
	// Subject, and only its Subject, changes it, whatever their role.
	KindCredential Kind = "credential"
	// KindPayload is Temporal's payloads through the codec endpoint: national,
	// administered by the ministry alone, for they carry personal data.
	KindPayload Kind = "payload"
	// KindProgress is the programme against its national targets: national
	// for the ministry and auditors, a province's own for a province.
	KindProgress Kind = "progress"
)

// Resource is what an action touches, described by who owns it. A resource with
// neither Province nor School is national: only the ministry and auditors see it.
type Resource struct {
	Kind Kind
	ID   string // names the resource in denials' details; not used to decide

	Province string // owner's province code; set for a school's resources too
	School   string // owner's school id
	// Subject is the user the resource is about (their account, their stream); that
	// user may read it whatever their role.
	Subject string
	// Public resources (notices, published lists) may be read by every principal.
	Public bool
	// Administrator marks an administrator's account: only an administrator
	// administers it, so no other ministry user takes it over by a reset.
	Administrator bool

	Assigned  []string // user ids of the experts or evaluators assigned to it
	Conflicts []string // user ids of assigned experts who declared a conflict of interest
}

// Decide errors. A denial wraps one of them with an English detail for the logs.
var (
	// ErrForbidden: the principal's role may never do this action to this kind of
	// resource, so saying so reveals nothing.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the resource lies outside the principal's scope (another
	// province's, another school's, not assigned). It is reported as absent so that
	// scope does not leak which resources exist.
	ErrNotFound = errors.New("not found")
)

// assessors are the only roles, besides the ministry, that write assessments: an
// owner must never score or evaluate itself.
// declarations are the kinds only their owner writes, even the ministry may not.
var declarations = map[Kind]bool{KindIntentForm: true, KindApplication: true, KindRecommendation: true, KindPerformanceReport: true}

var assessors = map[Kind]identity.Role{
	KindReview:     identity.RoleExpert,
	KindEvaluation: identity.RoleEvaluator,
}

// assignable kinds are assigned one by one to assessors of the given role: one
// that nobody is assigned to yet is out of that role's scope (not found), not
// a kind it may never see.
var assignable = map[Kind]identity.Role{KindProject: identity.RoleEvaluator, KindEvaluation: identity.RoleEvaluator}

// Decide returns nil when p may do a to r, and otherwise an error wrapping
// ErrForbidden or ErrNotFound. Anything it does not know is denied.
func Decide(p identity.Principal, a Action, r Resource) error {
	deny := func(reason error, why string) error {
		return fmt.Errorf("%w: %s %q (%s) may not %s %s %q: %s", reason, p.Role, p.UserID, p.Organisation, a, r.Kind, r.ID, why)
	}
	switch {
	case p.UserID == "" || !p.Role.Valid():
		return deny(ErrForbidden, "no valid principal")
	case !slices.Contains(Actions, a):
		return deny(ErrForbidden, "unknown action")
	case r.Kind == KindInbox:
		// Notices are personal: not even the ministry or an auditor reads
		// another user's inbox; marking one's own notices read changes no record.
		if r.Subject != "" && r.Subject == p.UserID && a != ActionAdminister {
			return nil
		}
		return deny(ErrNotFound, "another user's inbox")
	case r.Kind == KindCredential:
		// Not even the ministry changes someone's password through this kind; it
		// resets passwords by administering users.
		if a != ActionAdminister && r.Subject != "" && r.Subject == p.UserID {
			return nil
		}
		return deny(ErrForbidden, "credentials are their subject's own")
	case p.Role == identity.RoleMinistry && a == ActionWrite && declarations[r.Kind]:
		// A province's intent and a school's application are their own
		// declarations: the ministry returns, reviews and decides on them, but
		// never fills them in on the owner's behalf.
		return deny(ErrForbidden, "a declaration is written only by its owner")
	case r.Administrator && a == ActionAdminister && !(p.Role == identity.RoleMinistry && identity.IsAdministrator(p.UserID)):
		return deny(ErrForbidden, "an administrator's account is administered only by an administrator")
	case p.Role == identity.RoleMinistry:
		return nil
	case a == ActionAdminister:
		return deny(ErrForbidden, "only the ministry administers")
	case p.Role == identity.RoleAuditor:
		if a == ActionRead {
			return nil
		}
		return deny(ErrForbidden, "auditors change nothing")
	case a == ActionRead && (r.Public || (r.Subject != "" && r.Subject == p.UserID)):
		return nil
	}
	if want, ok := assessors[r.Kind]; a == ActionWrite && ok && p.Role != want {
		return deny(ErrForbidden, "only an assigned "+string(want)+" writes a "+string(r.Kind))
	}

	switch p.Role {
	case identity.RoleProvince:
		return owned(r.Province, p.Organisation, deny)
	case identity.RoleSchool:
		return owned(r.School, p.Organisation, deny)
	case identity.RoleExpert, identity.RoleEvaluator:
		if a == ActionWrite && assessors[r.Kind] != p.Role {
			return deny(ErrForbidden, "assessors write only their assessments")
		}
		switch {
		case len(r.Assigned) == 0 && assignable[r.Kind] != p.Role:
			return deny(ErrForbidden, "not a resource that is assigned to assessors")
		case !slices.Contains(r.Assigned, p.UserID):
			return deny(ErrNotFound, "not assigned")
		case slices.Contains(r.Conflicts, p.UserID):
			return deny(ErrNotFound, "conflict of interest")
		}
		return nil
	}
	return deny(ErrForbidden, "no rule for this role")
}

// owned decides for a role scoped to one organisation: it sees only resources
// whose owner is that organisation.
func owned(owner, org string, deny func(error, string) error) error {
	switch {
	case owner == "":
		return deny(ErrForbidden, "a national resource")
	case owner != org:
		return deny(ErrNotFound, "owned by "+owner)
	}
	return nil
}
