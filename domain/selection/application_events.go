package selection

import "time"

// Event types the application and expert services need beyond events.go. They
// live in their own file so that the batch's payloads keep one author.
const (
	// ApplicationStream(id), in the same append as ApplicationCreated: the
	// applicant is a province filing on behalf of schools, not a school.
	TypeApplicationFiledByProvince = "ApplicationFiledByProvince"
	// ApplicationStream(id): qualification review returned the application for
	// correction (see Reopen); the batch's workflow appends it.
	TypeApplicationReturned = "ApplicationReturned"
	// ExpertStream(id): the ministry changed an expert already in the pool.
	TypeExpertUpdated = "ExpertUpdated"
)

// ApplicationEvent is the data of an event of an application's stream;
// readers of the log keep them with events.DecodeIf[selection.ApplicationEvent].
type ApplicationEvent interface{ applicationEvent() }

func (ApplicationCreated) applicationEvent()         {}
func (ApplicationFiledByProvince) applicationEvent() {}
func (ApplicationEdited) applicationEvent()          {}
func (ApplicationAttachmentAdded) applicationEvent() {}
func (ApplicationSubmitted) applicationEvent()       {}
func (ApplicationReturned) applicationEvent()        {}

// ApplicationFiledByProvince: a province, not a school, is the applicant and
// owner. ApplicationCreated.School is then the lead school, which expert
// conflicts are checked on; the member schools are in the application's fields.
type ApplicationFiledByProvince struct {
	ApplicationID string `json:"application_id"`
	Province      string `json:"province"`
}

// ApplicationReturned: the application may be edited and submitted again until
// Until (zero: no limit), because qualification review returned it.
type ApplicationReturned struct {
	ApplicationID string    `json:"application_id"`
	Reason        string    `json:"reason"`
	Until         time.Time `json:"until,omitzero"`
}

// ExpertUpdated replaces every field of a registered expert, like a new
// ExpertRegistered, but says that the expert was already in the pool.
type ExpertUpdated ExpertRegistered
