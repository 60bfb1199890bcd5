package infratest

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

// alertRule is one rule of infra/prometheus/alerts.yml.
type alertRule struct {
	group               string
	name, expr, forDur  string
	labels, annotations obj
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	docs := yamlDocs(t, path(t, "infra", "prometheus", "alerts.yml"))
	if len(docs) != 1 {
		t.Fatalf("alerts.yml: want one document, got %d", len(docs))
	}
	var rules []alertRule
	for _, g := range asObj(docs[0]).list("groups") {
		g := asObj(g)
		for _, r := range g.list("rules") {
			r := asObj(r)
			rules = append(rules, alertRule{
				group: g.str("name"), name: r.str("alert"), expr: r.str("expr"),
				forDur: r.str("for"), labels: r.obj("labels"), annotations: r.obj("annotations"),
			})
		}
	}
	return rules
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	rules := alertRules(t)
	readme := string(readFile(t, path(t, "infra", "README.md")))
	registered := registeredMetrics(t)
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, r := range rules {
		at := r.group + "/" + r.name
		if r.name == "" {
			t.Errorf("%s: a rule without alert name (recording rules belong elsewhere)", r.group)
			continue
		}
		if seen[r.name] {
			t.Errorf("%s: duplicate alert name", at)
		}
		seen[r.name] = true
		if strings.TrimSpace(r.expr) == "" || !balanced(r.expr) {
			t.Errorf("%s: empty or unbalanced expr", at)
		}
		if r.forDur == "" {
			t.Errorf("%s: no for", at)
		} else if _, err := model.ParseDuration(r.forDur); err != nil {
			t.Errorf("%s: for %q: %v", at, r.forDur, err)
		}
		if sev := r.labels.str("severity"); sev != "page" && sev != "ticket" {
			t.Errorf("%s: labels.severity %q, want page or ticket", at, sev)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if r.annotations.str(a) == "" {
				t.Errorf("%s: annotations.%s missing", at, a)
			}
		}
		// The runbook anchor exists in infra/README.md.
		if rb := r.annotations.str("runbook"); rb != "" {
			anchor := rb[strings.Index(rb, "#")+1:]
			if anchor != strings.ToLower(r.name) || !strings.Contains(readme, "### "+r.name+"\n") {
				t.Errorf("%s: runbook %q has no \"### %s\" section in infra/README.md", at, rb, r.name)
			}
		}
		for _, m := range metricNames(r.expr) {
			used[m] = true
			if !metricKnown(m, registered) {
				t.Errorf("%s: metric %s is neither registered in the Go code nor announced", at, m)
			}
		}
	}
	// The alerts the operations issue asks for, by the metric they watch.
	for metric, what := range map[string]string{
		"borderproof_queue_latency_seconds":    "queue latency",
		"borderproof_partner_breaker_state":    "partner breaker open",
		"borderproof_webhook_backlog":          "webhook backlog",
		"borderproof_billing_sync_lag_seconds": "billing sync lag",
		"borderproof_sweeper_recovered_total":  "sweeper recoveries",
	} {
		if !used[metric] {
			t.Errorf("no alert on %s (%s)", what, metric)
		}
	}
}

func TestPrometheusConfig(t *testing.T) {
	t.Parallel()
	docs := yamlDocs(t, path(t, "infra", "prometheus", "prometheus.yml"))
	cfg := asObj(docs[0])
	if files := cfg.list("rule_files"); !slices.Contains(files, any("/etc/prometheus/alerts.yml")) {
		t.Errorf("rule_files %v must load /etc/prometheus/alerts.yml", files)
	}
	for _, k := range []string{"scrape_interval", "evaluation_interval"} {
		if _, err := model.ParseDuration(cfg.at("global").str(k)); err != nil {
			t.Errorf("global.%s: %v", k, err)
		}
	}
	jobs := map[string]obj{}
	for _, sc := range cfg.list("scrape_configs") {
		sc := asObj(sc)
		if jobs[sc.str("job_name")] != nil {
			t.Errorf("duplicate job %s", sc.str("job_name"))
		}
		jobs[sc.str("job_name")] = sc
	}
	// Every replica of api and worker is scraped on its own: DNS service
	// discovery on the compose service name, port 8080.
	for _, job := range []string{"api", "worker"} {
		sc := jobs[job]
		if sc == nil {
			t.Errorf("no scrape job %s", job)
			continue
		}
		sd := sc.list("dns_sd_configs")
		if len(sd) != 1 || !slices.Contains(asObj(sd[0]).list("names"), any(job)) || asObj(sd[0])["port"] != 8080 {
			t.Errorf("job %s: want dns_sd_configs on %q port 8080", job, job)
		}
	}
	if jobs["asynqmon"] == nil {
		t.Error("no scrape job for asynqmon")
	}
	// The alert on targets names the jobs scraped here.
	for _, r := range alertRules(t) {
		for _, m := range regexp.MustCompile(`job=~?"([^"]+)"`).FindAllStringSubmatch(r.expr, -1) {
			for _, j := range strings.Split(m[1], "|") {
				if jobs[j] == nil {
					t.Errorf("alert %s: job %q is not scraped", r.name, j)
				}
			}
		}
	}
}

type dashPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

func TestGrafanaDashboard(t *testing.T) {
	t.Parallel()
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(readFile(t, path(t, "infra", "grafana", "borderproof.json")))))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("borderproof.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("dashboard needs uid, title and a current schemaVersion (got %q %q %d)", d.UID, d.Title, d.SchemaVersion)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" {
			dsVar = true
		}
	}
	if !dsVar {
		t.Error("no datasource template variable (the dashboard must not pin a data source uid)")
	}
	registered := registeredMetrics(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	type cell struct{ x, y int }
	taken := map[cell]int{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps panel %d", p.Title, other)
					x, y = g.X+g.W, g.Y+g.H
				}
				taken[cell{x, y}] = p.ID
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" {
			t.Errorf("panel %d: no title", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource must be ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || !balanced(tg.Expr) {
				t.Errorf("panel %q: empty or unbalanced expr %q", p.Title, tg.Expr)
			}
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: missing or duplicate refId %q", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			for _, m := range metricNames(tg.Expr) {
				used[m] = true
				if !metricKnown(m, registered) {
					t.Errorf("panel %q: metric %s is neither registered in the Go code nor announced", p.Title, m)
				}
			}
		}
	}
	// Every registered and announced metric family appears on the
	// dashboard (or is deliberately left off).
	// Registered metrics missing from the dashboard are reported, not
	// failed: a package adding a metric should not break this test.
	var missing []string
	for m := range registered {
		if !used[m] && !used[m+"_bucket"] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Logf("registered metrics not on the dashboard: %s", strings.Join(missing, ", "))
	}
	for _, m := range announcedMetrics {
		if !used[m] {
			t.Errorf("announced metric %s is not on the dashboard", m)
		}
	}
}
