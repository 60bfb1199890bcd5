package infratest

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/borderproof/borderproof/internal/partner"
)

// The partners files the deployments mount must load with the binary's own
// parser, and every credential they name must be provided.

func TestComposePartnersConfig(t *testing.T) {
	t.Parallel()
	cfg, err := partner.LoadConfig(path(t, "infra", "compose", "partners.yaml"))
	if err != nil {
		t.Fatalf("infra/compose/partners.yaml: %v", err)
	}
	dev, err := partner.DevConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Partners) != len(dev.Partners) {
		t.Fatalf("%d partners, the dev config has %d", len(cfg.Partners), len(dev.Partners))
	}
	for i := range cfg.Partners {
		got, want := cfg.Partners[i], dev.Partners[i]
		u, err := url.Parse(got.BaseURL)
		if err != nil || u.Hostname() != "partnersim" {
			t.Errorf("%s: baseURL %q must point at the partnersim service", got.Name, got.BaseURL)
		}
		// Apart from addresses and file paths the two must agree.
		got.BaseURL, want.BaseURL = "", ""
		got.TLS, want.TLS = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from internal/partner/partners.dev.yaml beyond baseURL and tls", got.Name)
		}
	}

	proj := loadCompose(t)
	for _, p := range cfg.Partners {
		for role, env := range p.Credentials {
			v := proj.Services["worker"].Environment[env]
			if v == nil || *v == "" {
				t.Errorf("worker: %s (partner %s, %s) not set", env, p.Name, role)
			}
		}
		if p.TLS != nil && !strings.HasPrefix(p.TLS.CAFile, "/var/lib/borderproof/partnersim-tls/") {
			t.Errorf("%s: TLS files must come from the partnersim-tls volume", p.Name)
		}
	}
}

func TestOverlayPartnersConfigs(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"staging", "production"} {
		p := path(t, "infra", "k8s", "overlays", env, "partners.yaml")
		cfg, err := partner.LoadConfig(p)
		if err != nil {
			t.Errorf("%s: %v", rel(t, p), err)
			continue
		}
		for _, pc := range cfg.Partners {
			u, err := url.Parse(pc.BaseURL)
			if err != nil || u.Scheme != "https" {
				t.Errorf("%s: %s: baseURL %q must be https", env, pc.Name, pc.BaseURL)
			}
			if pc.TLS != nil && !strings.HasPrefix(pc.TLS.CAFile, "/etc/borderproof/partner-tls/") {
				t.Errorf("%s: %s: TLS files must come from the borderproof-partner-tls secret mount", env, pc.Name)
			}
		}
	}
}
