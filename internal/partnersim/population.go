package partnersim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/mrz"
	"github.com/borderproof/borderproof/internal/partner/bordermovements"
	"github.com/borderproof/borderproof/internal/risk"
)

// Label is a synthetic person's ground truth: what a correct verification
// should find.
type Label string

// Labels.
const (
	LabelClean                 Label = "CLEAN"
	LabelStolenDocument        Label = "STOLEN_DOCUMENT"
	LabelLostDocument          Label = "LOST_DOCUMENT"
	LabelExpiredVisa           Label = "EXPIRED_VISA"
	LabelNoVisa                Label = "NO_VISA"
	LabelOverstay              Label = "OVERSTAY"
	LabelIdentityMismatch      Label = "IDENTITY_MISMATCH"
	LabelWatchlistHit          Label = "WATCHLIST_HIT"
	LabelVisaConditionConflict Label = "VISA_CONDITION_CONFLICT"
	LabelDocumentReuse         Label = "DOCUMENT_REUSE"
	LabelSlowCase              Label = "SLOW_CASE"
)

// Labels lists every label in a fixed order.
var Labels = []Label{
	LabelClean, LabelStolenDocument, LabelLostDocument, LabelExpiredVisa, LabelNoVisa,
	LabelOverstay, LabelIdentityMismatch, LabelWatchlistHit, LabelVisaConditionConflict,
	LabelDocumentReuse, LabelSlowCase,
}

// Mix gives the relative weight of each label. Missing labels weigh 0.
type Mix map[Label]float64

// DefaultMix is mostly clean: 80% CLEAN and 2% of each other label.
func DefaultMix() Mix {
	m := Mix{}
	for _, l := range Labels {
		m[l] = 0.02
	}
	m[LabelClean] = 0.80
	return m
}

// Person is one synthetic policyholder with everything the simulated
// partners know about them.
type Person struct {
	Index            int
	Label            Label
	GivenNames       string
	Surname          string
	DateOfBirth      time.Time
	Nationality      string
	Sex              string
	ResidenceCountry string
	Passport         Document
	// Visa is what the immigration partner of the coverage country holds
	// (nil: no visa).
	Visa *Visa
	// Registry is the issuing state's record of the passport as the
	// document registry knows it.
	Registry  RegistryRecord
	Movements []Movement
	Policy    Policy
	Consent   Consent
	Checks    []string
	// CaseDelayWorkingDays > 0 makes the status-case partner answer
	// ADDITIONAL_VERIFICATION_REQUIRED for that many working days.
	CaseDelayWorkingDays int
}

// Document is an identity or travel document.
type Document struct {
	Type           string
	Number         string
	IssuingCountry string
	ExpiryDate     time.Time
	MRZ            []string
}

// Visa is a visa as the immigration partner records it.
type Visa struct {
	Document     Document // the visa's own document (type VISA)
	Country      string
	Status       string // IN_EFFECT, CEASED
	Class        string
	Subclass     string
	SubclassName string
	GrantDate    time.Time
	ExpiryDate   time.Time
	Conditions   []string
}

// RegistryRecord is what the document registry holds for a document.
type RegistryRecord struct {
	HolderSurname     string
	HolderDateOfBirth time.Time
	// Reason is LOST, STOLEN, REVOKED or INVALIDATED; empty: not reported.
	Reason     string
	ReportedOn time.Time
	Reporter   string
}

// Movement is one border crossing.
type Movement struct {
	Type  string // ENTRY, EXIT, REFUSAL
	State string
	Date  time.Time
}

// Policy is the insurance policy of the verification.
type Policy struct {
	Reference       string
	Product         string
	CoverageCountry string
	StartDate       time.Time
	EndDate         time.Time
}

// Consent is the policyholder's consent record.
type Consent struct {
	Reference   string
	ObtainedAt  time.Time
	LawfulBasis string
	Purposes    []string
}

// WatchlistName is a listed individual the population may borrow a name
// from.
type WatchlistName struct {
	EntityID    string
	GivenNames  string
	Surname     string
	DateOfBirth time.Time
	Nationality string
}

// PopulationConfig configures the synthetic population.
type PopulationConfig struct {
	Seed uint64
	Size int
	// AsOf is the day the population is built around (policies start
	// shortly after it). Zero: today (UTC). Fix it for reproducible output.
	AsOf time.Time
	Mix  Mix
	// Watchlist supplies names for WATCHLIST_HIT; without it those people
	// get a sandbox magic name.
	Watchlist []WatchlistName
}

// Population is a deterministic synthetic population.
type Population struct {
	Seed   uint64
	AsOf   time.Time
	People []*Person
	byDoc  map[string][]*Person
	byVisa map[string]*Person
}

// DocKey is the index key of a document: issuing state and number.
func DocKey(issuing, number string) string {
	return strings.ToUpper(issuing) + "|" + strings.ToUpper(number)
}

// ByDocument returns the people who present this document (two for a
// reused document), in population order.
func (p *Population) ByDocument(issuing, number string) []*Person {
	return p.byDoc[DocKey(issuing, number)]
}

// Holders returns the people who present this document, as their passport
// or as their visa, in population order. Immigration partners are asked
// about the visa when the verification carries one.
func (p *Population) Holders(issuing, number string) []*Person {
	out := p.byDoc[DocKey(issuing, number)]
	if v, ok := p.byVisa[DocKey(issuing, number)]; ok {
		out = append(slices.Clip(out), v)
	}
	return out
}

// Counts returns how many people carry each label.
func (p *Population) Counts() map[Label]int {
	c := map[Label]int{}
	for _, x := range p.People {
		c[x.Label]++
	}
	return c
}

var (
	givenF = []string{"ANNA", "MARIA", "SOFIA", "LUCIA", "AMINA", "PRIYA", "MEI", "YUKI", "OLGA", "FATIMA",
		"ISABEL", "CHLOE", "GRACE", "NADIA", "LEILA", "SARA", "ELENA", "ZARA", "IMANI", "ANA"}
	givenM = []string{"JAMES", "LUCAS", "MATEO", "OMAR", "RAJ", "WEI", "HIROSHI", "IVAN", "KWAME", "DIEGO",
		"NOAH", "ALI", "ARJUN", "CHEN", "PABLO", "SAMUEL", "YUSUF", "DAVID", "MARCO", "TOMAS"}
	surnames = []string{"SMITH", "GARCIA", "NGUYEN", "SINGH", "KIM", "SILVA", "OKAFOR", "IVANOVA", "HASSAN", "MULLER",
		"ROSSI", "TANAKA", "KOWALSKI", "PEREZ", "KHAN", "WANG", "MENSAH", "HERNANDEZ", "PATEL", "SANTOS",
		"NOVAK", "DUBOIS", "LOPEZ", "CHOI", "ADEYEMI", "MORALES", "KAPOOR", "LI", "SATO", "FERREIRA"}
	// Third-country nationalities: visa holders, recorded by the Entry/Exit System.
	nationalities = []string{"IND", "CHN", "BRA", "NGA", "PHL", "VNM", "MEX", "COL", "ZAF", "TUR",
		"UKR", "GBR", "CAN", "JPN", "KOR", "EGY", "KEN", "ARG", "IDN", "PAK"}
	products       = []string{"HEALTH", "LIFE", "TRAVEL", "PROPERTY", "MOTOR"}
	otherCoverage  = []string{"AUS", "USA", "FRA", "DEU", "ESP", "ITA", "NLD", "PRT"}
	registryReason = map[Label]string{LabelStolenDocument: "STOLEN", LabelLostDocument: "LOST"}
)

// NewPopulation builds the population for cfg. The same config gives the
// same people, byte for byte.
func NewPopulation(cfg PopulationConfig) (*Population, error) {
	if cfg.Size < 0 || cfg.Size > 5_000_000 {
		return nil, errs.E(errs.Invalid, "population size must be between 0 and 5000000")
	}
	if cfg.Mix == nil {
		cfg.Mix = DefaultMix()
	}
	var total float64
	for _, l := range Labels {
		if cfg.Mix[l] < 0 {
			return nil, errs.E(errs.Invalid, "mix weight of %s is negative", l)
		}
		total += cfg.Mix[l]
	}
	for l := range cfg.Mix {
		if !slices.Contains(Labels, l) {
			return nil, errs.E(errs.Invalid, "unknown label %q in mix", l)
		}
	}
	if total <= 0 {
		return nil, errs.E(errs.Invalid, "mix weights sum to zero")
	}
	if cfg.AsOf.IsZero() {
		cfg.AsOf = time.Now().UTC()
	}
	asOf := day(cfg.AsOf)
	g := &gen{rnd: rand.New(rand.NewPCG(cfg.Seed, 0xb0de2)), asOf: asOf, seed: cfg.Seed, wl: cfg.Watchlist}
	pop := &Population{Seed: cfg.Seed, AsOf: asOf, byDoc: map[string][]*Person{}, byVisa: map[string]*Person{}}
	for len(pop.People) < cfg.Size {
		label := pick(g.rnd, cfg.Mix, total)
		p, err := g.person(len(pop.People), label)
		if err != nil {
			return nil, err
		}
		pop.People = append(pop.People, p)
		if label == LabelDocumentReuse && len(pop.People) < cfg.Size {
			q, err := g.reuse(len(pop.People), p)
			if err != nil {
				return nil, err
			}
			pop.People = append(pop.People, q)
		} else if label == LabelDocumentReuse {
			p.Label = LabelClean // no room for the pair
		}
	}
	for _, p := range pop.People {
		k := DocKey(p.Passport.IssuingCountry, p.Passport.Number)
		pop.byDoc[k] = append(pop.byDoc[k], p)
		if p.Visa != nil {
			pop.byVisa[DocKey(p.Visa.Document.IssuingCountry, p.Visa.Document.Number)] = p
		}
	}
	return pop, nil
}

func pick(r *rand.Rand, mix Mix, total float64) Label {
	x := r.Float64() * total
	for _, l := range Labels {
		x -= mix[l]
		if x < 0 && mix[l] > 0 {
			return l
		}
	}
	for i := len(Labels) - 1; i >= 0; i-- {
		if mix[Labels[i]] > 0 {
			return Labels[i]
		}
	}
	return LabelClean
}

type gen struct {
	rnd  *rand.Rand
	asOf time.Time
	seed uint64
	wl   []WatchlistName
}

func (g *gen) of(xs []string) string { return xs[g.rnd.IntN(len(xs))] }

func (g *gen) days(lo, hi int) time.Duration {
	return time.Duration(lo+g.rnd.IntN(hi-lo+1)) * 24 * time.Hour
}

func (g *gen) person(i int, label Label) (*Person, error) {
	p := &Person{Index: i, Label: label}
	p.Sex = []string{"F", "M"}[g.rnd.IntN(2)]
	if p.Sex == "F" {
		p.GivenNames = g.of(givenF)
	} else {
		p.GivenNames = g.of(givenM)
	}
	if g.rnd.IntN(4) == 0 {
		p.GivenNames += " " + g.of(append(append([]string{}, givenF...), givenM...))
	}
	p.Surname = g.of(surnames)
	p.DateOfBirth = g.asOf.AddDate(-(18 + g.rnd.IntN(60)), 0, -g.rnd.IntN(365))
	p.Nationality = g.of(nationalities)
	if label == LabelWatchlistHit {
		g.watchlistIdentity(p)
	}

	// Coverage country decides the immigration partner: USA goes to the
	// status-case service, everything else to the visa-status service.
	switch label {
	case LabelExpiredVisa, LabelNoVisa, LabelVisaConditionConflict:
		p.Policy.CoverageCountry = "AUS"
	case LabelSlowCase:
		p.Policy.CoverageCountry = "USA"
	case LabelOverstay:
		p.Policy.CoverageCountry = g.of([]string{"FRA", "DEU", "ESP", "ITA", "NLD", "PRT"})
	default:
		p.Policy.CoverageCountry = g.of(otherCoverage)
	}
	p.ResidenceCountry = p.Policy.CoverageCountry
	p.Policy.Product = g.of(products)
	if label == LabelVisaConditionConflict {
		p.Policy.Product = "HEALTH"
	}
	p.Policy.Reference = fmt.Sprintf("POL-%d-%06d", g.seed%100000, i)
	p.Policy.StartDate = g.asOf.Add(g.days(1, 30))
	if p.Policy.Product == "TRAVEL" {
		p.Policy.EndDate = p.Policy.StartDate.Add(g.days(14, 90))
	} else {
		p.Policy.EndDate = p.Policy.StartDate.AddDate(1, 0, 0)
	}
	p.Consent = Consent{
		Reference:   fmt.Sprintf("CNS-%d-%06d", g.seed%100000, i),
		ObtainedAt:  g.asOf.Add(-g.days(1, 10)).Add(time.Duration(g.rnd.IntN(86400)) * time.Second),
		LawfulBasis: "CONSENT",
		Purposes:    []string{"UNDERWRITING"},
	}

	// Passport: a unique number per index (7919 is prime to 10^7).
	number := fmt.Sprintf("%c%c%07d", 'A'+rune(g.rnd.IntN(26)), 'A'+rune(g.rnd.IntN(26)), (i*7919+int(g.seed%9973))%10_000_000)
	expiry := g.asOf.Add(g.days(400, 3600))
	var err error
	p.Passport, err = passport(p, number, p.Nationality, expiry)
	if err != nil {
		return nil, err
	}
	p.Registry = RegistryRecord{HolderSurname: p.Surname, HolderDateOfBirth: p.DateOfBirth}
	if r, ok := registryReason[label]; ok {
		p.Registry.Reason = r
		p.Registry.ReportedOn = g.asOf.Add(-g.days(20, 700))
		p.Registry.Reporter = p.Nationality
	}
	if label == LabelIdentityMismatch {
		// The registry knows another holder for this number.
		p.Registry.HolderSurname = otherThan(g, surnames, p.Surname)
		p.Registry.HolderDateOfBirth = p.DateOfBirth.AddDate(0, -g.rnd.IntN(40)-1, 0)
	}

	if err := g.visa(p); err != nil {
		return nil, err
	}
	g.movements(p)
	p.Checks = checksFor(p)
	if label == LabelSlowCase {
		p.CaseDelayWorkingDays = 3
	}
	return p, nil
}

// checksFor is the check list an insurer submits for p: the document
// checks and screening, the check that knows the coverage country (border
// movements in the Schengen area, the immigration partner elsewhere), and
// every check the product requires under the default risk policy, in
// risk.CheckTypes order.
func checksFor(p *Person) []string {
	want := []risk.CheckType{risk.CheckDocumentMRZ, risk.CheckDocumentRegistry, risk.CheckWatchlist}
	if slices.Contains(bordermovements.Schengen, p.Policy.CoverageCountry) {
		want = append(want, risk.CheckBorderMovements)
	} else {
		want = append(want, risk.CheckImmigrationStatus)
	}
	want = append(want, risk.DefaultPolicy().RequiredChecks(risk.Product(p.Policy.Product))...)
	var out []string
	for _, t := range risk.CheckTypes() {
		if slices.Contains(want, t) {
			out = append(out, string(t))
		}
	}
	return out
}

// reuse makes a second identity presenting the first person's passport
// number. The registry knows the first person as the holder.
func (g *gen) reuse(i int, first *Person) (*Person, error) {
	q, err := g.person(i, LabelDocumentReuse)
	if err != nil {
		return nil, err
	}
	q.Nationality = first.Nationality
	q.Surname = otherThan(g, surnames, first.Surname)
	q.Passport, err = passport(q, first.Passport.Number, first.Passport.IssuingCountry, first.Passport.ExpiryDate)
	if err != nil {
		return nil, err
	}
	q.Registry = first.Registry
	if err := g.visa(q); err != nil {
		return nil, err
	}
	return q, nil
}

func otherThan(g *gen, xs []string, not string) string {
	for {
		if s := g.of(xs); s != not {
			return s
		}
	}
}

func (g *gen) watchlistIdentity(p *Person) {
	if len(g.wl) == 0 {
		p.GivenNames, p.Surname = "MAGIC", "SANCTIONED"
		return
	}
	w := g.wl[g.rnd.IntN(len(g.wl))]
	p.GivenNames, p.Surname = w.GivenNames, w.Surname
	if !w.DateOfBirth.IsZero() {
		p.DateOfBirth = w.DateOfBirth
	}
	if w.Nationality != "" {
		p.Nationality = w.Nationality
	}
	if g.rnd.IntN(2) == 0 && len(p.Surname) > 4 {
		// A slight misspelling: two adjacent letters swapped.
		b := []byte(p.Surname)
		k := 1 + g.rnd.IntN(len(b)-2)
		if b[k] != ' ' && b[k+1] != ' ' {
			b[k], b[k+1] = b[k+1], b[k]
		}
		p.Surname = string(b)
	}
}

func (g *gen) visa(p *Person) error {
	cov := p.Policy.CoverageCountry
	schengen := slices.Contains(bordermovements.Schengen, cov)
	if p.Label == LabelNoVisa || schengen && (p.Label == LabelOverstay || p.Policy.Product == "TRAVEL") {
		return nil // short stays in the Schengen area carry no visa record
	}
	v := &Visa{Country: cov, Status: "IN_EFFECT"}
	v.GrantDate = g.asOf.Add(-g.days(30, 700))
	v.ExpiryDate = p.Policy.EndDate.Add(g.days(60, 900))
	switch {
	case schengen:
		// A year's cover in the Schengen area means a long stay: a national
		// long-stay visa, which requires health insurance.
		v.Class, v.Subclass, v.SubclassName = "D", "D", "Long-stay national visa"
		v.Conditions = []string{"8501"}
	case cov == "USA":
		v.Class, v.Subclass, v.SubclassName = "F", "F-1", "Academic student"
	default:
		v.Class, v.Subclass, v.SubclassName = "TU", "500", "Student"
		v.Conditions = []string{"8105", "8501"}
		if g.rnd.IntN(3) == 0 {
			v.Class, v.Subclass, v.SubclassName = "UC", "482", "Temporary Skill Shortage"
			v.Conditions = []string{"8107", "8501"}
		}
	}
	switch p.Label {
	case LabelExpiredVisa:
		v.ExpiryDate = g.asOf.Add(-g.days(10, 300))
		v.Status = []string{"CEASED", "IN_EFFECT"}[g.rnd.IntN(2)]
	case LabelVisaConditionConflict:
		v.Class, v.Subclass, v.SubclassName = "FA", "600", "Visitor"
		v.Conditions = []string{"8101", "8201"}
	}
	num := fmt.Sprintf("V%08d", (p.Index*104729+int(g.seed%7919))%100_000_000)
	lines, err := mrz.Encode(mrz.Document{
		Format: mrz.MRVA, IssuingState: cov, PrimaryIdentifier: p.Surname, SecondaryIdentifier: p.GivenNames,
		DocumentNumber: num, Nationality: p.Nationality, BirthDate: p.DateOfBirth, Sex: mrz.Sex(p.Sex),
		ExpiryDate: v.ExpiryDate,
	})
	if err != nil {
		return errs.Wrap(err, errs.Internal, "cannot encode a synthetic visa")
	}
	v.Document = Document{Type: "VISA", Number: num, IssuingCountry: cov, ExpiryDate: v.ExpiryDate, MRZ: lines}
	p.Visa = v
	return nil
}

func (g *gen) movements(p *Person) {
	cov := p.Policy.CoverageCountry
	if !slices.Contains(bordermovements.Schengen, cov) {
		return
	}
	// An earlier short trip, then the current stay.
	if g.rnd.IntN(2) == 0 {
		in := g.asOf.Add(-g.days(170, 300))
		p.Movements = append(p.Movements,
			Movement{Type: "ENTRY", State: g.of(bordermovements.Schengen), Date: in},
			Movement{Type: "EXIT", State: g.of(bordermovements.Schengen), Date: in.Add(g.days(5, 20))})
	}
	stay := g.days(5, 60)
	if p.Label == LabelOverstay {
		stay = g.days(100, 170)
	}
	p.Movements = append(p.Movements, Movement{Type: "ENTRY", State: cov, Date: g.asOf.Add(-stay)})
	slices.SortFunc(p.Movements, func(a, b Movement) int { return cmp.Compare(a.Date.Unix(), b.Date.Unix()) })
}

func passport(p *Person, number, issuing string, expiry time.Time) (Document, error) {
	lines, err := mrz.Encode(mrz.Document{
		Format: mrz.TD3, IssuingState: issuing, PrimaryIdentifier: p.Surname, SecondaryIdentifier: p.GivenNames,
		DocumentNumber: number, Nationality: p.Nationality, BirthDate: p.DateOfBirth, Sex: mrz.Sex(p.Sex),
		ExpiryDate: expiry,
	})
	if err != nil {
		return Document{}, errs.Wrap(err, errs.Internal, "cannot encode a synthetic passport")
	}
	return Document{Type: "PASSPORT", Number: number, IssuingCountry: issuing, ExpiryDate: expiry, MRZ: lines}, nil
}

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
