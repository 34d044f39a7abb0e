package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// PerformanceSchedule is when and how the yearly collection runs.
type PerformanceSchedule struct {
	Month, Day, Hour, Minute int // in Asia/Shanghai
	DeadlineAfter            time.Duration
	Reminders                []time.Duration
	CloseAfter               time.Duration
	TaskQueue                string
}

// performanceCatchup lets a run missed while the cluster was down start when
// it is back within a week; a later one waits for a backfill.
const performanceCatchup = 7 * 24 * time.Hour

func (s PerformanceSchedule) spec() client.ScheduleSpec {
	one := func(v int) []client.ScheduleRange { return []client.ScheduleRange{{Start: v}} }
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			Second: one(0), Minute: one(s.Minute), Hour: one(s.Hour),
			DayOfMonth: one(s.Day), Month: one(s.Month),
			Comment: "年度执行绩效采集",
		}},
		TimeZoneName: "Asia/Shanghai",
	}
}

func (s PerformanceSchedule) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		// The schedule appends each run's nominal time to this id.
		ID:        PerformanceScheduleID,
		Workflow:  PerformanceCollectionWorkflowName,
		TaskQueue: s.TaskQueue,
		Args: []any{PerformanceCollectionParams{
			DeadlineAfter: s.DeadlineAfter, ReminderOffsets: s.Reminders, CloseAfter: s.CloseAfter, Actor: systemActor,
		}},
	}
}

// EnsurePerformanceSchedule creates the yearly collection's schedule, or
// brings an existing one to s: safe to call at every worker start. Runs of
// different years may overlap (a backfill starts several at once); each year
// is collected once whatever starts it (see collection_contract.go).
func EnsurePerformanceSchedule(ctx context.Context, c client.Client, s PerformanceSchedule) error {
	if s.Month < 1 || s.Month > 12 || s.Day < 1 || s.Day > 31 || s.Hour < 0 || s.Hour > 23 || s.Minute < 0 || s.Minute > 59 {
		return fmt.Errorf("performance schedule: bad time %02d-%02d %02d:%02d", s.Month, s.Day, s.Hour, s.Minute)
	}
	if s.TaskQueue == "" {
		return errors.New("performance schedule: no task queue")
	}
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:            PerformanceScheduleID,
		Spec:          s.spec(),
		Action:        s.action(),
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: performanceCatchup,
		Note:          "每年年底采集一次执行绩效",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create performance schedule: %w", err)
	}
	err = sc.GetHandle(ctx, PerformanceScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sch := in.Description.Schedule
			spec := s.spec()
			sch.Spec = &spec
			sch.Action = s.action()
			if sch.Policy == nil {
				sch.Policy = &client.SchedulePolicies{}
			}
			sch.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
			sch.Policy.CatchupWindow = performanceCatchup
			return &client.ScheduleUpdate{Schedule: &sch}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update performance schedule: %w", err)
	}
	return nil
}

// BackfillPerformance starts the collections of years whose scheduled time
// passed before the schedule existed: one run per year, each with that
// year's nominal time, so each collects its own year.
func BackfillPerformance(ctx context.Context, c client.Client, s PerformanceSchedule, years ...int) error {
	slices.Sort(years)
	var bf []client.ScheduleBackfill
	for _, y := range years {
		at := time.Date(y, time.Month(s.Month), s.Day, s.Hour, s.Minute, 0, 0, shanghai)
		bf = append(bf, client.ScheduleBackfill{Start: at.Add(-time.Minute), End: at.Add(time.Minute),
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL})
	}
	return c.ScheduleClient().GetHandle(ctx, PerformanceScheduleID).Backfill(ctx, client.ScheduleBackfillOptions{Backfill: bf})
}
