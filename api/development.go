package api

import (
	"net/http"
	"time"

	"keytask/app"
	"keytask/domain/development"
	"keytask/domain/identity"
	"keytask/domain/policy"
)

// developmentRoutes are the development tasks (items 4 and 5): the ministry
// assigns a project and records its milestones; the undertaking province and
// the lead unit read it.
func (s *Server) developmentRoutes() []Route {
	const dev = "/api/v1/development-projects/{devproject}"
	return []Route{
		{Pattern: "POST /api/v1/development-projects", Action: policy.ActionAdminister,
			Resource: func(*http.Request, identity.Principal) (policy.Resource, error) {
				return policy.Resource{Kind: policy.KindProject, ID: "new"}, nil
			}, handle: s.assignDevelopmentProject, Request: assignDevelopmentBody{}},
		{Pattern: "GET " + dev, Action: policy.ActionRead, Resource: s.developmentResource, handle: s.getDevelopmentProject},
		{Pattern: "POST " + dev + "/milestones", Action: policy.ActionAdminister, Resource: s.developmentResource, handle: s.recordDevelopmentMilestone, Request: developmentMilestoneBody{}},
	}
}

// developmentResource describes the project in the path from its stream: its
// province's, and its lead unit's as the school.
func (s *Server) developmentResource(r *http.Request, _ identity.Principal) (policy.Resource, error) {
	p, err := s.app.DevelopmentProject(r.Context(), r.PathValue("devproject"))
	if err != nil {
		return policy.Resource{}, err
	}
	return policy.Resource{Kind: policy.KindProject, ID: p.ProjectID, Province: p.Province, School: p.LeadUnit}, nil
}

type developmentView struct {
	ProjectID        string          `json:"project_id"`
	PlanBatchID      string          `json:"plan_batch_id,omitempty"`
	TaskItem         string          `json:"task_item"`
	TaskType         string          `json:"task_type"`
	TaskLabel        string          `json:"task_label"`
	Title            string          `json:"title"`
	Province         string          `json:"province"`
	ProvinceName     string          `json:"province_name"`
	LeadUnit         string          `json:"lead_unit"`
	LeadUnitName     string          `json:"lead_unit_name"`
	Participants     []string        `json:"participants"`
	ParticipantNames []string        `json:"participant_names"`
	Milestones       []milestoneView `json:"milestones"`
	Next             string          `json:"next_milestone,omitempty"`
	NextLabel        string          `json:"next_milestone_label,omitempty"`
	Published        bool            `json:"published"`
	Replayed         bool            `json:"replayed,omitempty"`
}

type milestoneView struct {
	Milestone string    `json:"milestone"`
	Label     string    `json:"label"`
	Date      time.Time `json:"date"`
	Note      string    `json:"note,omitempty"`
	Reference string    `json:"reference,omitempty"`
}

func viewDevelopment(p development.Project) developmentView {
	v := developmentView{ProjectID: p.ProjectID, PlanBatchID: p.PlanBatchID, TaskItem: p.TaskItem, TaskType: p.TaskType,
		TaskLabel: development.TaskLabel(p.TaskType), Title: p.Title, Province: p.Province, ProvinceName: identity.Provinces[p.Province],
		LeadUnit: p.LeadUnit, LeadUnitName: p.LeadUnitName, Participants: p.Participants, ParticipantNames: p.ParticipantNames,
		Milestones: []milestoneView{}, Next: string(p.Next()), NextLabel: p.Next().Label(p.TaskType), Published: p.Published()}
	if v.Participants == nil {
		v.Participants, v.ParticipantNames = []string{}, []string{}
	}
	for _, m := range p.Reached {
		v.Milestones = append(v.Milestones, milestoneView{Milestone: string(m.Milestone), Label: m.Milestone.Label(p.TaskType),
			Date: m.Date, Note: m.Note, Reference: m.Reference})
	}
	return v
}

func (s *Server) assignDevelopmentProject(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req assignDevelopmentBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.TaskItem == "" {
		req.TaskItem = map[string]string{development.TaskStandard: "4", development.TaskTextbook: "5"}[req.TaskType]
	}
	assigned, again, err := s.app.AssignDevelopmentProject(r.Context(), app.AssignDevelopmentProject{Request: appRequest(r, key),
		Project: development.ProjectAssigned{ProjectID: req.ProjectID, PlanBatchID: req.PlanBatchID, TaskItem: req.TaskItem, TaskType: req.TaskType,
			Title: req.Title, Province: req.Province, LeadUnit: req.LeadUnit, Participants: req.Participants}})
	if err != nil {
		return err
	}
	var p development.Project
	p.Apply(assigned)
	v := viewDevelopment(p)
	v.Replayed = again
	status := http.StatusCreated
	if again {
		status = http.StatusOK
	}
	writeJSON(w, status, v)
	return nil
}

func (s *Server) getDevelopmentProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.app.DevelopmentProject(r.Context(), r.PathValue("devproject"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewDevelopment(p))
	return nil
}

func (s *Server) recordDevelopmentMilestone(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req developmentMilestoneBody
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	date, err := parseWhen("date", "日期", req.Date, false)
	if err != nil {
		return err
	}
	_, again, err := s.app.RecordDevelopmentMilestone(r.Context(), app.RecordDevelopmentMilestone{Request: appRequest(r, key),
		ProjectID: r.PathValue("devproject"), Milestone: development.Milestone(req.Milestone), Date: date, Note: req.Note, Reference: req.Reference})
	if err != nil {
		return err
	}
	p, err := s.app.DevelopmentProject(r.Context(), r.PathValue("devproject"))
	if err != nil {
		return err
	}
	v := viewDevelopment(p)
	v.Replayed = again
	writeJSON(w, http.StatusOK, v)
	return nil
}

// assignDevelopmentBody is the ministry assigning a development project.
type assignDevelopmentBody struct {
	ProjectID    string   `json:"project_id"`
	PlanBatchID  string   `json:"plan_batch_id"`
	TaskItem     string   `json:"task_item"`
	TaskType     string   `json:"task_type"`
	Title        string   `json:"title"`
	Province     string   `json:"province"`
	LeadUnit     string   `json:"lead_unit"`
	Participants []string `json:"participants"`
}

// developmentMilestoneBody records one milestone of a development project.
type developmentMilestoneBody struct {
	Milestone string `json:"milestone"`
	Date      string `json:"date"`
	Note      string `json:"note"`
	Reference string `json:"reference"`
}
