package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress draws one self-overwriting line on a terminal stream:
//
//	submit [##########··········]  512/1000  203.4/s  2.5s
//
// It redraws at most five times a second. A nil writer draws nothing.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	label string
	total int
	done  int
	start time.Time
	last  time.Time
}

// NewProgress starts a line counting up to total.
func NewProgress(w io.Writer, label string, total int) *Progress {
	return &Progress{w: w, label: label, total: total, start: time.Now()}
}

// Add counts n more and redraws when due.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond || p.done == p.total {
		p.last = now
		p.draw()
	}
}

// Set sets the count and redraws when due.
func (p *Progress) Set(n int) {
	p.mu.Lock()
	d := n - p.done
	p.mu.Unlock()
	p.Add(d)
}

// Done draws the final state and ends the line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *Progress) draw() {
	if p.w == nil {
		return
	}
	const width = 20
	filled := 0
	if p.total > 0 {
		filled = min(width, p.done*width/p.total)
	}
	el := time.Since(p.start)
	rate := Ratio(float64(p.done), el.Seconds())
	fmt.Fprintf(p.w, "\r%-7s [%s%s] %6d/%-6d %8.1f/s %6.1fs ", p.label,
		strings.Repeat("#", filled), strings.Repeat("·", width-filled), p.done, p.total, rate, el.Seconds())
}
