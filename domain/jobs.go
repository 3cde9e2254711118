package domain

import (
	"context"
	"sync"
	"time"
)

// Jobs is the work nobody asks for: the presence timeout (and, with the
// automation, boomerangs and logout cleanups). Each job runs on the
// service's clock, so tests drive it with a fake one.
type Jobs struct {
	s      *Service
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	timers map[string]Timer
}

// PresenceSweepInterval is how often silent agents are looked for: an agent
// goes OFFLINE at most this late (their presenceSince is exact).
const PresenceSweepInterval = time.Second

// StartJobs starts the background jobs; Stop ends them.
func (s *Service) StartJobs(ctx context.Context) *Jobs {
	ctx, cancel := context.WithCancel(ctx)
	j := &Jobs{s: s, ctx: ctx, cancel: cancel, timers: map[string]Timer{}}
	j.every("presence timeout", PresenceSweepInterval, func(ctx context.Context) error {
		_, err := s.ExpireSilentAgents(ctx)
		return err
	})
	return j
}

// every runs job now and then every d, one run at a time.
func (j *Jobs) every(name string, d time.Duration, job func(context.Context) error) {
	var run func()
	run = func() {
		if !j.begin() {
			return
		}
		defer j.wg.Done()
		if err := job(j.ctx); err != nil && j.ctx.Err() == nil {
			j.s.log.Error("background job failed; it runs again", "job", name, "err", err)
		}
		j.arm(name, d, run)
	}
	j.arm(name, 0, run)
}

// begin counts a run in, unless the jobs are stopping.
func (j *Jobs) begin() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() != nil {
		return false
	}
	j.wg.Add(1)
	return true
}

func (j *Jobs) arm(name string, d time.Duration, f func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ctx.Err() == nil {
		j.timers[name] = j.s.clock.AfterFunc(d, f)
	}
}

// Stop ends the jobs and waits for a running one to finish.
func (j *Jobs) Stop() {
	j.mu.Lock()
	j.cancel()
	for _, t := range j.timers {
		t.Stop()
	}
	j.mu.Unlock()
	j.wg.Wait()
}
