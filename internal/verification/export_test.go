package verification_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/verification"
)

// TestEveryExportedPersonIsAccepted feeds the sandbox export (the shape
// load tests and insurers submit) through the submission's validation:
// every one of 10,000 synthetic people must be accepted as it is.
func TestEveryExportedPersonIsAccepted(t *testing.T) {
	asOf := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	pop, err := partnersim.NewPopulation(partnersim.PopulationConfig{Seed: 7, Size: 10000, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := partnersim.WriteExport(&buf, pop); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var in verification.SubmitInput
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if err := in.Validate(asOf.Add(12 * time.Hour)); err != nil {
			t.Fatalf("person %d refused: %v", n, err)
		}
		n++
	}
	if n != 10000 {
		t.Fatalf("exported %d people", n)
	}
}
