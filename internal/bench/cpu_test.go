package bench

import (
	"os/exec"
	"testing"
	"time"
)

// A sample sees this process's time and that of another process by name,
// while it runs.
func TestSampleCPU(t *testing.T) {
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	defer func() { _ = busy.Process.Kill(); _ = busy.Wait() }()
	time.Sleep(20 * time.Millisecond) // past exec

	before := SampleCPU("sh", "no-such-process")
	if !before.OK {
		t.Skip("no /proc here: the harness reports no CPU split")
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++ // this process's own time
	}
	got := SampleCPU("sh", "no-such-process").Since(before)
	if got.Self < 50*time.Millisecond {
		t.Fatalf("this process used %s in a 300 ms busy loop (%d turns)", got.Self, n)
	}
	if got.ByName["sh"] < 30*time.Millisecond {
		t.Fatalf("the busy shell used %s in 300 ms", got.ByName["sh"])
	}
	if d, ok := got.ByName["no-such-process"]; !ok || d != 0 {
		t.Fatalf("an absent name: %s %v", d, ok)
	}

	split := CPUSample{OK: true, Self: 300 * time.Millisecond,
		ByName: map[string]time.Duration{PostgresProcess: 150 * time.Millisecond, RedisProcess: 30 * time.Millisecond}}.PerVerification(30)
	if split == nil || *split != (CPUSplit{Service: 10, Postgres: 5, Redis: 1}) {
		t.Fatalf("split %+v", split)
	}
	if (CPUSample{}).PerVerification(30) != nil {
		t.Fatal("a failed sample gives a split")
	}
	if (CPUSample{OK: true}).PerVerification(0) != nil {
		t.Fatal("a split over no verification")
	}
}
