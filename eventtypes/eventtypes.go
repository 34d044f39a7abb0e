// Package eventtypes lists every event type keytask records, each once, with
// the Go type of its data and its schema version (and, from version 2 on, its
// upcasters), in one events.Registry. Projections, the notifier, activities,
// the application layer and the audit history decode event data through it; the
// event types stay defined beside the rules that produce them in domain/, which
// knows nothing of the log, and events/ knows nothing of domain/.
package eventtypes

import (
	"keytask/domain/development"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/register"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
)

// Registry holds every event type. A type appended without a registration here
// fails TestEveryEventTypeRegistered, and decoding one returns
// events.ErrUnregistered.
var Registry = build()

func build() *events.Registry {
	r := events.NewRegistry()

	// identity
	events.Register[identity.UserRegistered](r, identity.TypeUserRegistered, 1)
	events.Register[identity.TokenIssued](r, identity.TypeTokenIssued, 1)
	events.Register[identity.TokenRevoked](r, identity.TypeTokenRevoked, 1)
	events.Register[identity.PasswordSet](r, identity.TypePasswordSet, 1)
	events.Register[identity.EmailSet](r, identity.TypeEmailSet, 1)

	// intent
	events.Register[intent.PlanBatchOpened](r, intent.TypePlanBatchOpened, 1)
	events.Register[intent.PlanItemsAdded](r, intent.TypePlanItemsAdded, 1)
	events.Register[intent.LiaisonDeadlineSet](r, intent.TypeLiaisonDeadlineSet, 1)
	events.Register[intent.LiaisonRegistered](r, intent.TypeLiaisonRegistered, 1)
	events.Register[intent.IntentRoundOpened](r, intent.TypeIntentRoundOpened, 1)
	events.Register[intent.IntentDraftSaved](r, intent.TypeIntentDraftSaved, 1)
	events.Register[intent.IntentSubmitted](r, intent.TypeIntentSubmitted, 1)
	events.Register[intent.IntentReturned](r, intent.TypeIntentReturned, 1)
	events.Register[intent.ProvinceDeadlineExtended](r, intent.TypeProvinceDeadlineExtended, 1)
	events.Register[intent.IntentReminderSent](r, intent.TypeIntentReminderSent, 1)
	events.Register[intent.IntentRoundClosed](r, intent.TypeIntentRoundClosed, 1)
	events.Register[intent.IntentRoundFiled](r, intent.TypeIntentRoundFiled, 1)
	events.Register[intent.IntentFeedbackRecorded](r, intent.TypeIntentFeedbackRecorded, 1)
	events.Register[intent.IntentLetterRecorded](r, intent.TypeIntentLetterRecorded, 1)
	events.Register[intent.IntentLetterArrived](r, intent.TypeIntentLetterArrived, 1)

	// selection
	events.Register[selection.ApplicationFiledByProvince](r, selection.TypeApplicationFiledByProvince, 1)
	events.Register[selection.ApplicationReturned](r, selection.TypeApplicationReturned, 1)
	events.Register[selection.ExpertUpdated](r, selection.TypeExpertUpdated, 1)
	events.Register[selection.ApplicationCreated](r, selection.TypeApplicationCreated, 1)
	events.Register[selection.ApplicationEdited](r, selection.TypeApplicationEdited, 1)
	events.Register[selection.ApplicationAttachmentAdded](r, selection.TypeApplicationAttachmentAdded, 1)
	events.Register[selection.ApplicationSubmitted](r, selection.TypeApplicationSubmitted, 1)
	events.Register[selection.ExpertRegistered](r, selection.TypeExpertRegistered, 1)
	events.Register[selection.SelectionBatchOpened](r, selection.TypeSelectionBatchOpened, 1)
	events.Register[selection.ProvinceQuotaRaised](r, selection.TypeProvinceQuotaRaised, 1)
	events.Register[selection.ApplicationsRecommended](r, selection.TypeApplicationsRecommended, 1)
	events.Register[selection.QualificationDecided](r, selection.TypeQualificationDecided, 1)
	events.Register[selection.CorrectionResubmitted](r, selection.TypeCorrectionResubmitted, 1)
	events.Register[selection.StageAdvanced](r, selection.TypeStageAdvanced, 1)
	events.Register[selection.StageReopened](r, selection.TypeStageReopened, 1)
	events.Register[selection.StageDeadlineExtended](r, selection.TypeStageDeadlineExtended, 1)
	events.Register[selection.StageDeadlinePassed](r, selection.TypeStageDeadlinePassed, 1)
	events.Register[selection.ExpertsAssigned](r, selection.TypeExpertsAssigned, 1)
	events.Register[selection.ScoresSubmitted](r, selection.TypeScoresSubmitted, 1)
	events.Register[selection.RankingProposed](r, selection.TypeRankingProposed, 1)
	events.Register[selection.RankingConfirmed](r, selection.TypeRankingConfirmed, 1)
	events.Register[selection.ObjectionFiled](r, selection.TypeObjectionFiled, 1)
	events.Register[selection.ObjectionAdjudicated](r, selection.TypeObjectionAdjudicated, 1)
	events.Register[selection.SelectionBatchPublished](r, selection.TypeSelectionBatchPublished, 1)
	events.Register[selection.ProjectCreated](r, selection.TypeProjectCreated, 1)
	events.Register[selection.NoConflictDeclared](r, selection.TypeNoConflictDeclared, 1)
	events.Register[selection.AssignmentDeclined](r, selection.TypeAssignmentDeclined, 1)
	events.Register[selection.ExpertsReplaced](r, selection.TypeExpertsReplaced, 1)
	events.Register[selection.ScoringReminderDue](r, selection.TypeScoringReminderDue, 1)
	events.Register[selection.ExpertsSilent](r, selection.TypeExpertsSilent, 1)
	events.Register[selection.ConsensusRecorded](r, selection.TypeConsensusRecorded, 1)
	events.Register[selection.RankingOverruled](r, selection.TypeRankingOverruled, 1)
	events.Register[selection.SuccessorNoticed](r, selection.TypeSuccessorNoticed, 1)

	// performance
	events.Register[performance.CollectionOpened](r, performance.TypeCollectionOpened, 1)
	events.Register[performance.CollectionDeadlineExtended](r, performance.TypeCollectionDeadlineExtended, 1)
	events.Register[performance.ReminderSent](r, performance.TypeReminderSent, 1)
	events.Register[performance.Escalated](r, performance.TypeEscalated, 1)
	events.Register[performance.ReportMarkedLate](r, performance.TypeReportMarkedLate, 1)
	events.Register[performance.CollectionClosed](r, performance.TypeCollectionClosed, 1)
	events.Register[performance.ReportOpened](r, performance.TypeReportOpened, 1)
	events.Register[performance.ReportDraftSaved](r, performance.TypeReportDraftSaved, 1)
	events.Register[performance.ReportSubmitted](r, performance.TypeReportSubmitted, 1)
	events.Register[performance.ReportReturned](r, performance.TypeReportReturned, 1)
	events.Register[performance.ReportLocked](r, performance.TypeReportLocked, 1)

	// register
	events.Register[register.SchoolRegistered](r, register.TypeSchoolRegistered, 1)
	events.Register[register.SchoolUpdated](r, register.TypeSchoolUpdated, 1)

	// tracking
	events.Register[tracking.ProjectRevoked](r, tracking.TypeProjectRevoked, 1)
	events.Register[tracking.ProjectAccepted](r, tracking.TypeProjectAccepted, 1)
	events.Register[tracking.EvaluatorAssigned](r, tracking.TypeEvaluatorAssigned, 1)
	events.Register[tracking.InspectionScheduled](r, tracking.TypeInspectionScheduled, 1)
	events.Register[tracking.InspectionRecorded](r, tracking.TypeInspectionRecorded, 1)
	events.Register[tracking.EvaluationSubmitted](r, tracking.TypeEvaluationSubmitted, 1)
	events.Register[tracking.ProjectFlagged](r, tracking.TypeProjectFlagged, 1)
	events.Register[tracking.RectificationConfirmed](r, tracking.TypeRectificationConfirmed, 1)
	events.Register[tracking.RectificationReminded](r, tracking.TypeRectificationReminded, 1)
	events.Register[tracking.RectificationOverdue](r, tracking.TypeRectificationOverdue, 1)

	// development
	events.Register[development.ProjectAssigned](r, development.TypeProjectAssigned, 1)
	events.Register[development.MilestoneRecorded](r, development.TypeMilestoneRecorded, 1)
	return r
}
