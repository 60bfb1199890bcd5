package infratest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Facts read from the project's Go source, so that the artefacts stay in
// step with the code: the configuration variables the binary reads and the
// metrics it registers.

var (
	envTagRe  = regexp.MustCompile(`env:"(BORDERPROOF_[A-Z0-9_]+)"`)
	nameLitRe = regexp.MustCompile(`Name:\s*"(borderproof_[a-z0-9_]+)"`)
	// Namespace: "borderproof", Subsystem: "partner", Name: "calls_total"
	nsNameRe = regexp.MustCompile(`Namespace:\s*"([a-z0-9_]+)",\s*Subsystem:\s*"([a-z0-9_]+)",\s*Name:\s*"([a-z0-9_]+)"`)
)

// announcedEnv are variables the binary is getting (KMS, S3, Stripe,
// partners, webhooks) together with those the operations artefacts need
// from it (Redis auth and TLS for ElastiCache, the exports bucket). Once
// cmd/borderproof/config.go reads them they are found there too.
var announcedEnv = []string{
	"BORDERPROOF_VAULT_PROVIDER",
	"BORDERPROOF_KMS_KEY_ID",
	"BORDERPROOF_KMS_ENDPOINT",
	"BORDERPROOF_VAULT_KEY_FILE",
	"BORDERPROOF_BLOB_PROVIDER",
	"BORDERPROOF_S3_BUCKET",
	"BORDERPROOF_S3_ENDPOINT",
	"BORDERPROOF_S3_PATH_STYLE",
	"BORDERPROOF_STRIPE_API_KEY",
	"BORDERPROOF_STRIPE_API_BASE",
	"BORDERPROOF_PARTNERS_CONFIG",
	"BORDERPROOF_WEBHOOK_ALLOWLIST",
	"BORDERPROOF_REDIS_PASSWORD",
	"BORDERPROOF_REDIS_TLS",
	"BORDERPROOF_S3_EXPORTS_BUCKET",
}

// announcedMetrics are the metrics the dashboard and the alerts use that
// the worker, webhook, billing and sweeper code is to register.
var announcedMetrics = []string{
	"borderproof_queue_size",
	"borderproof_queue_latency_seconds",
	"borderproof_task_total",
	"borderproof_webhook_deliveries_total",
	"borderproof_webhook_backlog",
	"borderproof_billing_sync_lag_seconds",
	"borderproof_sweeper_recovered_total",
}

// knownEnv is every BORDERPROOF_* variable the binary reads or is
// announced to read.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	for _, m := range envTagRe.FindAllStringSubmatch(string(readFile(t, path(t, "cmd", "borderproof", "config.go"))), -1) {
		known[m[1]] = true
	}
	if !known["BORDERPROOF_DATABASE_URL"] {
		t.Fatal("cmd/borderproof/config.go: no BORDERPROOF_DATABASE_URL env tag found; the scan is broken")
	}
	for _, v := range announcedEnv {
		known[v] = true
	}
	return known
}

// registeredMetrics scans the project's non-test Go files (outside infra/)
// for borderproof_* metric names.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	r := root(t)
	err := filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "infra", "bin", "testdata", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range nameLitRe.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = true
		}
		for _, m := range nsNameRe.FindAllStringSubmatch(string(b), -1) {
			found[m[1]+"_"+m[2]+"_"+m[3]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"borderproof_http_requests_total", "borderproof_partner_breaker_state"} {
		if !found[must] {
			t.Fatalf("metric scan did not find %s in the Go source; the scan is broken", must)
		}
	}
	return found
}

// metricKnown accepts a series name when it, or the histogram it is a
// series of, is registered or announced.
func metricKnown(name string, registered map[string]bool) bool {
	cands := []string{name}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if s, ok := strings.CutSuffix(name, suf); ok {
			cands = append(cands, s)
		}
	}
	for _, c := range cands {
		if registered[c] {
			return true
		}
		for _, a := range announcedMetrics {
			if a == c {
				return true
			}
		}
	}
	return false
}

func TestProjectScansFindFacts(t *testing.T) {
	t.Parallel()
	env := knownEnv(t)
	for _, v := range []string{"BORDERPROOF_REDIS_URL", "BORDERPROOF_LISTEN_ADDR", "BORDERPROOF_WORKER_CONCURRENCY"} {
		if !env[v] {
			t.Errorf("%s not found in cmd/borderproof/config.go", v)
		}
	}
	reg := registeredMetrics(t)
	if !metricKnown("borderproof_http_request_duration_seconds_bucket", reg) {
		t.Error("histogram bucket series not recognised")
	}
	if metricKnown("borderproof_no_such_metric", reg) {
		t.Error("an unknown metric was accepted")
	}
	var pending []string
	for _, a := range announcedMetrics {
		if !reg[a] {
			pending = append(pending, a)
		}
	}
	if len(pending) > 0 {
		t.Logf("announced metrics not registered in the Go code yet: %s", strings.Join(pending, ", "))
	}
}
