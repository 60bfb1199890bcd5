package bench

import (
	"os"
	"time"

	"github.com/prometheus/procfs"
)

// CPUSample is the processor time used so far by this process and by the
// machine's processes of given names (the PostgreSQL backends and the
// Redis server the harness talks to on loopback), from /proc. OK is false
// where /proc cannot be read (not Linux): the harness then reports no
// split.
type CPUSample struct {
	Self   time.Duration
	ByName map[string]time.Duration
	OK     bool
}

// SampleCPU reads the sample. A process's time includes that of its
// children it reaped (a PostgreSQL backend that ended counts with the
// postmaster), so connections opened and closed during a run still
// count. Processes that end between two samples take their time with
// them; the harness keeps its connections open.
func SampleCPU(names ...string) CPUSample {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return CPUSample{}
	}
	procs, err := fs.AllProcs()
	if err != nil {
		return CPUSample{}
	}
	s := CPUSample{ByName: map[string]time.Duration{}, OK: true}
	for _, n := range names {
		s.ByName[n] = 0
	}
	self := os.Getpid()
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil {
			continue // ended meanwhile
		}
		d := ticks(st.UTime + st.STime + uint(max(st.CUTime+st.CSTime, 0)))
		if p.PID == self {
			s.Self = ticks(st.UTime + st.STime)
			continue
		}
		if _, ok := s.ByName[st.Comm]; ok {
			s.ByName[st.Comm] += d
		}
	}
	return s
}

// ticks converts clock ticks to time; Linux reports /proc times in
// USER_HZ, which is 100 on every architecture Go supports there.
func ticks(n uint) time.Duration { return time.Duration(n) * (time.Second / 100) }

// Since is the time used between an earlier sample and s.
func (s CPUSample) Since(earlier CPUSample) CPUSample {
	out := CPUSample{Self: s.Self - earlier.Self, ByName: map[string]time.Duration{}, OK: s.OK && earlier.OK}
	for n, d := range s.ByName {
		out.ByName[n] = d - earlier.ByName[n]
	}
	return out
}

// CPUSplit is the processor time of one verification, in milliseconds:
// the harness's own process (the api, the worker, the partner simulator,
// the submitting client and the webhook receiver), PostgreSQL's processes
// and Redis.
type CPUSplit struct {
	Service  float64 `json:"service"`
	Postgres float64 `json:"postgres"`
	Redis    float64 `json:"redis"`
}

// Process names of the servers the split counts.
const (
	PostgresProcess = "postgres"
	RedisProcess    = "redis-server"
)

// PerVerification divides a run's CPU among n verifications; nil when the
// sample could not be taken or n is 0.
func (s CPUSample) PerVerification(n int) *CPUSplit {
	if !s.OK || n <= 0 {
		return nil
	}
	ms := func(d time.Duration) float64 { return Round(float64(d)/float64(time.Millisecond)/float64(n), 2) }
	return &CPUSplit{Service: ms(s.Self), Postgres: ms(s.ByName[PostgresProcess]), Redis: ms(s.ByName[RedisProcess])}
}
