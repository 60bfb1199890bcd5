package risk

import (
	"math"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
)

func TestSignalCodesAreCatalogued(t *testing.T) {
	t.Parallel()
	seen := map[SignalCode]bool{}
	for _, c := range SignalCodes() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
		e, ok := catalogue(c)
		if !ok || !c.Known() {
			t.Errorf("%s is not in the catalogue", c)
		}
		if e.message == "" || !strings.HasSuffix(e.message, ".") {
			t.Errorf("%s: message %q must be a sentence", c, e.message)
		}
		if res := e.resolution; !e.perCheck && (res == "" || !strings.HasSuffix(res, ".")) {
			t.Errorf("%s: resolution %q must be a sentence", c, res)
		}
		if e.perCheck && e.resolution != "" {
			t.Errorf("%s: per-check codes take their resolution from the check type", c)
		}
		if string(c) != strings.ToUpper(string(c)) {
			t.Errorf("%s is not upper case", c)
		}
	}
	if SignalCode("NOT_A_CODE").Known() {
		t.Error("unknown code reported as known")
	}
}

func TestEffectiveStrength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want float64
	}{
		{0, 1}, {1, 1}, {0.5, 0.5}, {0.01, 0.01}, {1.2, 1}, {-0.5, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {math.Inf(-1), 1},
	}
	for _, tt := range tests {
		if got := (Signal{Strength: tt.in}).EffectiveStrength(); got != tt.want {
			t.Errorf("EffectiveStrength(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestGradedStrength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want float64
	}{
		{0, MinStrength}, {-1, MinStrength}, {0.005, MinStrength}, {0.01, 0.01}, {0.73, 0.73}, {1, 1}, {3, 1}, {math.NaN(), 1},
	}
	for _, tt := range tests {
		if got := GradedStrength(tt.in); got != tt.want {
			t.Errorf("GradedStrength(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestOverstayStrength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		days int
		want float64
	}{
		{-3, 0.25}, {0, 0.25}, {1, 0.25}, {45, 0.25}, {90, 0.5}, {135, 0.75}, {180, 1}, {1000, 1},
	}
	for _, tt := range tests {
		if got := OverstayStrength(tt.days); got != tt.want {
			t.Errorf("OverstayStrength(%d) = %v, want %v", tt.days, got, tt.want)
		}
	}
	for d := -10; d < 400; d++ {
		if OverstayStrength(d) > OverstayStrength(d+1) {
			t.Fatalf("OverstayStrength falls between %d and %d days", d, d+1)
		}
	}
}

func TestInputValidate(t *testing.T) {
	t.Parallel()
	good := func() Input {
		return Input{Product: ProductHealth, Checks: healthChecks(), Signals: []Signal{graded(sig(SignalOverstay, CheckBorderMovements), 0.5)}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("valid input: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Input)
		paths []string
	}{
		{"product", func(in *Input) { in.Product = "BOAT" }, []string{"product"}},
		{"check id", func(in *Input) { in.Checks[1].ID = "" }, []string{"checks[1].id"}},
		{"duplicate check id", func(in *Input) { in.Checks[2].ID = in.Checks[0].ID }, []string{"checks[2].id"}},
		{"check type", func(in *Input) { in.Checks[0].Type = "PALM_READING" }, []string{"checks[0].type"}},
		{"check status", func(in *Input) { in.Checks[3].Status = "DONE" }, []string{"checks[3].status"}},
		{"signal code", func(in *Input) { in.Signals[0].Code = "NOPE" }, []string{"signals[0].code"}},
		{"signal check type", func(in *Input) { in.Signals[0].CheckType = "NOPE" }, []string{"signals[0].checkType"}},
		{"strength above one", func(in *Input) { in.Signals[0].Strength = 1.5 }, []string{"signals[0].strength"}},
		{"negative strength", func(in *Input) { in.Signals[0].Strength = -0.1 }, []string{"signals[0].strength"}},
		{"NaN strength", func(in *Input) { in.Signals[0].Strength = math.NaN() }, []string{"signals[0].strength"}},
	}
	for _, tt := range tests {
		in := good()
		tt.edit(&in)
		assertPaths(t, tt.name, in.Validate(), tt.paths)
	}
}

// assertPaths checks that err is Invalid and names exactly paths.
func assertPaths(t *testing.T, name string, err error, paths []string) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok || e.Kind != errs.Invalid {
		t.Errorf("%s: error %v, want Invalid", name, err)
		return
	}
	got := map[string]bool{}
	for _, f := range e.Fields {
		got[f.Path] = true
		if f.Message == "" {
			t.Errorf("%s: %s has no message", name, f.Path)
		}
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("%s: no error at %s (got %+v)", name, p, e.Fields)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("%s: unexpected error at %s (got %+v)", name, p, e.Fields)
		}
	}
}
