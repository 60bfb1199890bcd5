package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// Decision columns of the confusion table.
const (
	Clear     = "CLEAR"
	Review    = "REVIEW"
	Decline   = "DECLINE"
	Undecided = "undecided"
)

// Columns lists the table's columns in order.
var Columns = []string{Clear, Review, Decline, Undecided}

// CleanLabel is the ground truth of a person with nothing to find.
const CleanLabel = "CLEAN"

// Confusion counts ground-truth labels against decisions.
type Confusion struct {
	labels []string
	// NotFraud lists labels that are neither CLEAN nor fraud (a slow
	// partner case, say); they are tabulated but have no recall.
	notFraud []string
	cells    map[string]map[string]int
}

// NewConfusion starts a table with rows in the given label order; labels
// seen later are appended. notFraud names labels without a recall besides
// CLEAN.
func NewConfusion(labels []string, notFraud ...string) *Confusion {
	return &Confusion{labels: slices.Clone(labels), notFraud: notFraud, cells: map[string]map[string]int{}}
}

// Add counts one person. A decision other than CLEAR, REVIEW or DECLINE
// (the empty string included) counts as undecided.
func (c *Confusion) Add(label, decision string) {
	if !slices.Contains(c.labels, label) {
		c.labels = append(c.labels, label)
	}
	if !slices.Contains([]string{Clear, Review, Decline}, decision) {
		decision = Undecided
	}
	row := c.cells[label]
	if row == nil {
		row = map[string]int{}
		c.cells[label] = row
	}
	row[decision]++
}

// Count is the number of people with label and decision.
func (c *Confusion) Count(label, decision string) int { return c.cells[label][decision] }

// Total is the number of people with label.
func (c *Confusion) Total(label string) int {
	n := 0
	for _, v := range c.cells[label] {
		n += v
	}
	return n
}

// N is the number of people counted.
func (c *Confusion) N() int {
	n := 0
	for l := range c.cells {
		n += c.Total(l)
	}
	return n
}

// Fraud reports whether label has a recall.
func (c *Confusion) Fraud(label string) bool {
	return label != CleanLabel && !slices.Contains(c.notFraud, label)
}

// Recall is the share of people with a fraud label that were caught
// (REVIEW or DECLINE). ok is false when nobody has the label.
func (c *Confusion) Recall(label string) (ratio float64, ok bool) {
	t := c.Total(label)
	if t == 0 {
		return 0, false
	}
	return float64(c.Count(label, Review)+c.Count(label, Decline)) / float64(t), true
}

// CleanClearRate is the share of CLEAN people decided CLEAR (0 when none).
func (c *Confusion) CleanClearRate() float64 {
	return Ratio(float64(c.Count(CleanLabel, Clear)), float64(c.Total(CleanLabel)))
}

// Undecided is the number of people without a decision.
func (c *Confusion) Undecided() int {
	n := 0
	for l := range c.cells {
		n += c.Count(l, Undecided)
	}
	return n
}

// QualityResult is the JSON line of the quality harness.
type QualityResult struct {
	N              int                `json:"n"`
	RecallByLabel  map[string]float64 `json:"recall_by_label"`
	CleanClearRate float64            `json:"clean_clear_rate"`
	Undecided      int                `json:"undecided"`
}

// Result summarises the table; ratios are rounded to four decimals.
func (c *Confusion) Result() QualityResult {
	r := QualityResult{N: c.N(), RecallByLabel: map[string]float64{}, CleanClearRate: Round(c.CleanClearRate(), 4), Undecided: c.Undecided()}
	for _, l := range c.labels {
		if !c.Fraud(l) {
			continue
		}
		if v, ok := c.Recall(l); ok {
			r.RecallByLabel[l] = Round(v, 4)
		}
	}
	return r
}

// WriteTable prints the table with a recall column for fraud labels and a
// closing line with the share of CLEAN decided CLEAR.
func (c *Confusion) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "label\t%s\ttotal\trecall\t\n", strings.Join(Columns, "\t"))
	for _, l := range c.labels {
		t := c.Total(l)
		if t == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t", l)
		for _, col := range Columns {
			fmt.Fprintf(tw, "%d\t", c.Count(l, col))
		}
		rec := "-"
		if v, ok := c.Recall(l); ok && c.Fraud(l) {
			rec = fmt.Sprintf("%.1f%%", 100*v)
		}
		fmt.Fprintf(tw, "%d\t%s\t\n", t, rec)
	}
	fmt.Fprintf(tw, "all\t")
	for _, col := range Columns {
		n := 0
		for l := range c.cells {
			n += c.Count(l, col)
		}
		fmt.Fprintf(tw, "%d\t", n)
	}
	fmt.Fprintf(tw, "%d\t\t\n", c.N())
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "CLEAN decided CLEAR: %.1f%% of %d; undecided: %d\n", 100*c.CleanClearRate(), c.Total(CleanLabel), c.Undecided())
	return err
}
