package watchlist_test

import (
	"testing"

	"github.com/borderproof/borderproof/internal/partner/watchlist"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/partnersim/simtest"
	"github.com/borderproof/borderproof/internal/risk"
)

// TestInterpretGrades: the best candidate decides; a weak name score is
// raised to strong only when the date of birth and the nationality both
// match.
func TestInterpretGrades(t *testing.T) {
	t.Parallel()
	c := newClient(t, simtest.Start(t, func(c *partnersim.Config) { c.Population = -1 }))
	const m, x, u = watchlist.MatchMatched, watchlist.MatchMismatched, watchlist.MatchUnknown
	tests := []struct {
		name     string
		score    float64
		dob, nat string
		want     risk.SignalCode
	}{
		{"strong name", 0.95, u, u, risk.SignalWatchlistStrong},
		{"strong name, identifiers contradict", 0.95, x, x, risk.SignalWatchlistStrong},
		{"weak name", 0.90, u, u, risk.SignalWatchlistWeak},
		{"weak name, date of birth only", 0.90, m, u, risk.SignalWatchlistWeak},
		{"weak name, nationality only", 0.90, u, m, risk.SignalWatchlistWeak},
		{"weak name, nationality contradicts", 0.90, m, x, risk.SignalWatchlistWeak},
		{"weak name confirmed by both", 0.90, m, m, risk.SignalWatchlistStrong},
		{"below weak, confirmed by both", 0.80, m, m, ""},
	}
	for _, tt := range tests {
		sr := watchlist.ScreenResponse{Reference: "chk_i", ListVersion: "v1", Candidates: []watchlist.Candidate{
			{EntityID: "1", Score: 0.5, DateOfBirthMatch: m, NationalityMatch: m},
			{EntityID: "2", Score: tt.score, NameScore: tt.score, DateOfBirthMatch: tt.dob, NationalityMatch: tt.nat},
		}}
		res := c.Interpret(sr, "chk_i")
		var got risk.SignalCode
		if len(res.Signals) == 1 {
			got = res.Signals[0].Code
			if res.Signals[0].Detail["entityId"] != "2" || res.Signals[0].Strength != tt.score {
				t.Errorf("%s: signal %+v is not the best candidate's", tt.name, res.Signals[0])
			}
		} else if len(res.Signals) > 1 {
			t.Fatalf("%s: %d signals", tt.name, len(res.Signals))
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
