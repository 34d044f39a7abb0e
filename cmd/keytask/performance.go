package main

import (
	"context"
	"fmt"

	"keytask/temporalx"
	"keytask/workflows"
)

// ensurePerformanceSchedule creates or updates the yearly performance
// collection's schedule from the configuration, at every worker start, so a
// changed KEYTASK_COLLECTION_* takes effect on the next start.
func (p *platform) ensurePerformanceSchedule(ctx context.Context) error {
	s, err := p.cfg.CollectionSchedule()
	if err != nil {
		return err
	}
	if s.Off {
		p.log.Info("performance collection schedule off (KEYTASK_COLLECTION_AT=off)")
		return nil
	}
	err = workflows.EnsurePerformanceSchedule(ctx, p.tc, workflows.PerformanceSchedule{
		Month: s.Month, Day: s.Day, Hour: s.Hour, Minute: s.Minute,
		DeadlineAfter: s.DeadlineAfter, Reminders: s.Reminders, CloseAfter: s.CloseAfter,
		TaskQueue: temporalx.TaskQueue,
	})
	if err != nil {
		return fmt.Errorf("performance collection schedule: %w", err)
	}
	p.log.Info("performance collection scheduled", "schedule_id", workflows.PerformanceScheduleID,
		"at", fmt.Sprintf("%02d-%02d %02d:%02d Asia/Shanghai", s.Month, s.Day, s.Hour, s.Minute))
	return nil
}
