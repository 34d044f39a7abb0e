// Package tracking holds what happens to a project after publication until
// its construction ends: inspections (检查评估), third-party evaluation, flags
// with rectification deadlines, revocation and final acceptance (验收). Its
// events are on the project's own stream, selection.ProjectStream(id), after
// the ProjectCreated that opened it.
package tracking

import "time"

// Event types on selection.ProjectStream(project).
const (
	TypeProjectRevoked  = "ProjectRevoked"
	TypeProjectAccepted = "ProjectAccepted"
)

// ProjectRevoked: the ministry revoked the project; it is no longer tracked
// and no longer reports performance.
type ProjectRevoked struct {
	ProjectID string `json:"project_id"`
	Reason    string `json:"reason"`
}

// ProjectAccepted: the project passed final acceptance (验收); its
// construction is complete and it no longer reports performance.
type ProjectAccepted struct {
	ProjectID  string    `json:"project_id"`
	AcceptedAt time.Time `json:"accepted_at"`
	Conclusion string    `json:"conclusion"`
}
