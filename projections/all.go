package projections

// All returns the projections keytask runs, in a fixed order; the projector and
// the CLI's rebuild command take them from here.
func All() []Projection {
	return []Projection{
		NewTimeline(),
		Users{},
		Schools{},
		IntentPlan{},
		IntentLiaisons{},
		IntentRounds{},
		SelectionApplications{},
		SelectionExperts{},
		SelectionBatches{},
		Performance{},
		Projects{},
		Progress{},
	}
}
