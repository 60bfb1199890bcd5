package infratest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml the way docker compose does,
// including validation against the Compose specification's JSON schema.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	r := root(t)
	p := filepath.Join(r, "docker-compose.yml")
	details := types.ConfigDetails{
		WorkingDir:  r,
		ConfigFiles: []types.ConfigFile{{Filename: p, Content: readFile(t, p)}},
		Environment: types.Mapping{},
	}
	proj, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("borderproof", true)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return proj
}

// borderproofServices run the project's own image.
var borderproofServices = []string{"migrate", "api", "worker", "partnersim"}

// noHealthcheck lists long-running services that cannot have a container
// health check, with the reason.
var noHealthcheck = map[string]string{
	"asynqmon": "image is FROM scratch: no shell or client to probe with; Prometheus scrapes it",
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	proj := loadCompose(t)
	want := []string{
		"postgres", "redis", "stripe-mock", "local-kms", "s3", "partnersim",
		"migrate", "api", "worker", "proxy", "prometheus", "asynqmon",
	}
	for _, name := range want {
		if _, ok := proj.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	images := map[string]string{
		"postgres":    "postgres",
		"redis":       "redis",
		"stripe-mock": "stripe/stripe-mock",
		"local-kms":   "nsmithuk/local-kms",
		"proxy":       "nginx",
		"prometheus":  "prom/prometheus",
		"asynqmon":    "hibiken/asynqmon",
	}
	for svc, want := range images {
		name, _ := imageRef(proj.Services[svc].Image)
		if name != want {
			t.Errorf("%s: image %q, want %s", svc, proj.Services[svc].Image, want)
		}
	}
	if _, tag := imageRef(proj.Services["postgres"].Image); !strings.HasPrefix(tag, "16.") {
		t.Errorf("postgres: tag %q, want PostgreSQL 16.x", tag)
	}
	if _, tag := imageRef(proj.Services["redis"].Image); !strings.HasPrefix(tag, "7.") {
		t.Errorf("redis: tag %q, want Redis 7.x", tag)
	}
}

func TestComposeImagesPinned(t *testing.T) {
	t.Parallel()
	proj := loadCompose(t)
	for name, svc := range proj.Services {
		if svc.Image == "" {
			t.Errorf("%s: no image (a built service must still name and tag its image)", name)
			continue
		}
		if !pinned(svc.Image) {
			t.Errorf("%s: image %q is not pinned to a tag", name, svc.Image)
		}
		if svc.Build != nil {
			df := svc.Build.Dockerfile
			if !filepath.IsAbs(df) {
				df = filepath.Join(svc.Build.Context, df) // relative to the context
			}
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: build file: %v", name, err)
			}
		}
	}
}

func TestComposeBorderProofServices(t *testing.T) {
	t.Parallel()
	proj := loadCompose(t)
	env := knownEnv(t)
	for _, name := range borderproofServices {
		svc := proj.Services[name]
		if svc.Build == nil || !strings.HasSuffix(svc.Build.Dockerfile, filepath.Join("infra", "Dockerfile")) {
			t.Errorf("%s: must build infra/Dockerfile", name)
		}
		if len(svc.Command) == 0 || svc.Command[0] != name {
			t.Errorf("%s: command %v, want the %q subcommand", name, svc.Command, name)
		}
		if !svc.ReadOnly || !slices.Contains(svc.CapDrop, "ALL") {
			t.Errorf("%s: want read_only and cap_drop ALL", name)
		}
		for k := range svc.Environment {
			if strings.HasPrefix(k, "BORDERPROOF_PARTNER_") {
				continue // checked against the partners config
			}
			if strings.HasPrefix(k, "BORDERPROOF_") && !env[k] {
				t.Errorf("%s: %s is not a variable the binary reads", name, k)
			}
		}
	}
	for _, name := range []string{"api", "worker"} {
		svc := proj.Services[name]
		if svc.Deploy == nil || svc.Deploy.Replicas == nil || *svc.Deploy.Replicas != 2 {
			t.Errorf("%s: want deploy.replicas 2", name)
		}
		for _, v := range []string{"BORDERPROOF_DATABASE_URL", "BORDERPROOF_REDIS_URL", "BORDERPROOF_KMS_ENDPOINT", "BORDERPROOF_S3_ENDPOINT", "BORDERPROOF_STRIPE_API_BASE"} {
			if svc.Environment[v] == nil || *svc.Environment[v] == "" {
				t.Errorf("%s: %s not set", name, v)
			}
		}
		wantDeps := map[string]string{
			"migrate":  types.ServiceConditionCompletedSuccessfully,
			"postgres": types.ServiceConditionHealthy,
			"redis":    types.ServiceConditionHealthy,
		}
		for dep, cond := range wantDeps {
			got, ok := svc.DependsOn[dep]
			if !ok || got.Condition != cond {
				t.Errorf("%s: depends_on %s: condition %q, want %q", name, dep, got.Condition, cond)
			}
		}
	}
	if w := proj.Services["worker"]; w.DependsOn["partnersim"].Condition != types.ServiceConditionHealthy {
		t.Error("worker: must wait for a healthy partnersim")
	}
	if m := proj.Services["migrate"]; m.Restart != "no" {
		t.Errorf("migrate: restart %q, want \"no\" (one-shot)", m.Restart)
	}
	if p := proj.Services["proxy"]; p.DependsOn["api"].Condition != types.ServiceConditionHealthy {
		t.Error("proxy: must wait for a healthy api")
	}
}

func TestComposeHealthChecks(t *testing.T) {
	t.Parallel()
	proj := loadCompose(t)
	for name, svc := range proj.Services {
		if svc.Restart == "no" {
			continue // one-shot
		}
		if reason, ok := noHealthcheck[name]; ok {
			if svc.HealthCheck != nil {
				t.Errorf("%s: has a health check now; drop it from noHealthcheck (%s)", name, reason)
			}
			continue
		}
		hc := svc.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s: long-running service without a health check", name)
			continue
		}
		if hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" {
			t.Errorf("%s: health check test %v must start with CMD or CMD-SHELL", name, hc.Test)
		}
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
			t.Errorf("%s: health check needs interval, timeout and retries", name)
		}
		// depends_on service_healthy needs a health check on the target.
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionHealthy {
				if _, exempt := noHealthcheck[dep]; exempt {
					t.Errorf("%s: waits for %s to be healthy, which has no health check", name, dep)
				}
			}
		}
	}
	for _, name := range borderproofServices {
		svc := proj.Services[name]
		if svc.Restart == "no" {
			continue
		}
		if svc.HealthCheck == nil || len(svc.HealthCheck.Test) < 3 || svc.HealthCheck.Test[1] != "/borderproof" || svc.HealthCheck.Test[2] != "healthcheck" {
			t.Errorf("%s: the distroless image has no shell; the check must run /borderproof healthcheck", name)
		}
	}
}

func TestComposeRedisPersistence(t *testing.T) {
	t.Parallel()
	cmd := strings.Join(loadCompose(t).Services["redis"].Command, " ")
	for _, want := range []string{"--appendonly yes", "--maxmemory-policy noeviction"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q", cmd, want)
		}
	}
}

func TestComposeMountedFilesExist(t *testing.T) {
	t.Parallel()
	proj := loadCompose(t)
	for name, svc := range proj.Services {
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source: %v", name, err)
			}
		}
	}
}

func TestNginxProxy(t *testing.T) {
	t.Parallel()
	conf := string(readFile(t, path(t, "infra", "nginx", "nginx.conf")))
	for _, want := range []string{
		"server api:8080 resolve",
		"proxy_set_header X-Request-Id $borderproof_request_id",
		"proxy_set_header X-Forwarded-For",
		"resolver 127.0.0.11",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	for _, bad := range []string{"least_conn", "ip_hash", "hash "} {
		if strings.Contains(conf, bad) {
			t.Errorf("nginx.conf: %q replaces round robin", bad)
		}
	}
	var code strings.Builder
	for _, line := range strings.Split(conf, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		code.WriteString(line + "\n")
	}
	if !balanced(code.String()) {
		t.Error("nginx.conf: unbalanced braces")
	}
}
