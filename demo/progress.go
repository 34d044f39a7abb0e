package demo

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints how far a long step has come every few seconds.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	what  string
	total int
	done  int
	quit  chan struct{}
	once  sync.Once
}

// progressEvery is how often a long step reports.
const progressEvery = 5 * time.Second

func newProgress(w io.Writer, what string, total int) *progress {
	p := &progress{w: w, what: what, total: total, quit: make(chan struct{})}
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		began := time.Now()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.mu.Lock()
				done := p.done
				p.mu.Unlock()
				rate := float64(done) / time.Since(began).Seconds()
				fmt.Fprintf(p.w, "        %s %d/%d（每秒 %.0f）\n", p.what, done, p.total, rate)
			}
		}
	}()
	return p
}

func (p *progress) add(n int) {
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

func (p *progress) stop() { p.once.Do(func() { close(p.quit) }) }
