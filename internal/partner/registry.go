package partner

import (
	"slices"
	"strings"

	"github.com/borderproof/borderproof/internal/errs"
)

// Factory builds a protocol client from its config. Each client package
// exports one (e.g. visastatus.Factory); internal/partner/clients collects
// them all.
type Factory func(cfg PartnerConfig, deps Deps) (Partner, error)

// Registry holds every configured partner behind its resilience wrapper.
type Registry struct {
	cfg      Config
	partners []*Resilient
	byName   map[string]*Resilient
}

// NewRegistry builds each partner in cfg with the factory for its protocol
// and wraps it. m may be nil.
func NewRegistry(cfg Config, factories map[string]Factory, deps Deps, m *Metrics) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	deps = deps.withDefaults()
	r := &Registry{cfg: cfg, byName: map[string]*Resilient{}}
	for _, pc := range cfg.Partners {
		f, ok := factories[pc.Protocol]
		if !ok {
			return nil, errs.E(errs.Invalid, "partner %s: unknown protocol %q", pc.Name, pc.Protocol)
		}
		p, err := f(pc, deps)
		if err != nil {
			return nil, err
		}
		w := Wrap(p, pc, m, deps.Logger)
		r.partners = append(r.partners, w)
		r.byName[pc.Name] = w
	}
	return r, nil
}

// Config returns the registry's config.
func (r *Registry) Config() Config { return r.cfg }

// Get returns the named partner.
func (r *Registry) Get(name string) (*Resilient, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// Names lists the partners in config order.
func (r *Registry) Names() []string {
	out := make([]string, len(r.partners))
	for i, p := range r.partners {
		out[i] = p.Name()
	}
	return out
}

// Route picks the partner for a check type and coverage country: the first
// partner (in config order) serving that check type that lists the country
// in coverage, else the first serving it with no coverage list. It answers
// FailedPrecondition when no partner serves the check.
func (r *Registry) Route(check CheckType, coverageCountry string) (*Resilient, error) {
	cc := strings.ToUpper(coverageCountry)
	var fallback *Resilient
	for _, p := range r.partners {
		c := p.Config()
		if !slices.Contains(c.Checks, check) {
			continue
		}
		if slices.Contains(c.Coverage, cc) {
			return p, nil
		}
		if len(c.Coverage) == 0 && fallback == nil {
			fallback = p
		}
	}
	if fallback == nil {
		return nil, errs.E(errs.FailedPrecondition, "no partner serves %s checks for this coverage country", check)
	}
	return fallback, nil
}
