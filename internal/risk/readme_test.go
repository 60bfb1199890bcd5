package risk

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEDescribesDefaultPolicy keeps the underwriters' tables in
// README.md in step with DefaultPolicy.
func TestREADMEDescribesDefaultPolicy(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPolicy()
	var (
		weightRow = regexp.MustCompile("^\\| `([A-Z_]+)` \\| (\\d+) \\|")
		rangeRow  = regexp.MustCompile(`^\| (\d+)–(\d+) +\| ([A-Z]+) +\|$`)
		ruleRow   = regexp.MustCompile("^\\| `([A-Z_]+)` \\| (.*) \\| (REVIEW|DECLINE) \\|$")
		codeRef   = regexp.MustCompile("`([A-Z_]+)`")
		prodRow   = regexp.MustCompile(`^\| ([A-Z]+) \| ([A-Z_, ]+) \| (.*)\|$`)
	)
	weights := map[SignalCode]int{}
	bands, decisions := map[int]string{}, map[int]string{}
	var rules []HardRule
	checks := map[Product][]CheckType{}
	conds := map[Product][]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if m := weightRow.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[2])
			weights[SignalCode(m[1])] = n
			continue
		}
		if m := ruleRow.FindStringSubmatch(line); m != nil {
			r := HardRule{Name: m[1], Floor: Decision(m[3])}
			for _, c := range codeRef.FindAllStringSubmatch(m[2], -1) {
				r.Signals = append(r.Signals, SignalCode(c[1]))
			}
			rules = append(rules, r)
			continue
		}
		if m := rangeRow.FindStringSubmatch(line); m != nil {
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			target := decisions
			if Band(m[3]) == BandLow || Band(m[3]) == BandMedium || Band(m[3]) == BandHigh || Band(m[3]) == BandCritical {
				target = bands
			}
			for s := lo; s <= hi; s++ {
				target[s] = m[3]
			}
			continue
		}
		if m := prodRow.FindStringSubmatch(line); m != nil && Product(m[1]).Known() {
			for _, c := range strings.Split(m[2], ", ") {
				checks[Product(m[1])] = append(checks[Product(m[1])], CheckType(strings.TrimSpace(c)))
			}
			for _, f := range strings.Fields(m[3]) {
				if _, err := strconv.Atoi(f); err == nil {
					conds[Product(m[1])] = append(conds[Product(m[1])], f)
				}
			}
		}
	}

	if len(weights) != len(p.Weights) {
		t.Errorf("README lists %d weights, the policy has %d", len(weights), len(p.Weights))
	}
	for c, w := range p.Weights {
		if got, ok := weights[c]; !ok || got != w {
			t.Errorf("README weight of %s = %d (listed %v), policy %d", c, got, ok, w)
		}
	}
	for s := 0; s <= 100; s++ {
		if got := bands[s]; got != string(p.band(s)) {
			t.Errorf("README band at %d = %q, policy %s", s, got, p.band(s))
		}
		if got := decisions[s]; got != string(p.decision(s)) {
			t.Errorf("README decision at %d = %q, policy %s", s, got, p.decision(s))
		}
	}
	if len(rules) != len(p.HardRules) {
		t.Fatalf("README lists %d hard rules, the policy has %d", len(rules), len(p.HardRules))
	}
	for i, r := range p.HardRules {
		if got := rules[i]; got.Name != r.Name || got.Floor != r.Floor || !slices.Equal(got.Signals, r.Signals) {
			t.Errorf("README rule %d = %+v, policy %+v", i, got, r)
		}
	}
	for _, prod := range Products() {
		if got := checks[prod]; !slices.Equal(got, p.RequiredChecks(prod)) {
			t.Errorf("README checks for %s = %v, policy %v", prod, got, p.RequiredChecks(prod))
		}
		if got := conds[prod]; !slices.Equal(got, p.RequiredVisaConditions(prod)) {
			t.Errorf("README visa conditions for %s = %v, policy %v", prod, got, p.RequiredVisaConditions(prod))
		}
	}
}
