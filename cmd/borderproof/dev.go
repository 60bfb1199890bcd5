package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/borderproof/borderproof/internal/console"
	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/queue"
	"github.com/borderproof/borderproof/internal/tenant"
)

// devInfo is <data-dir>/dev.json: how a developer or a script reaches the
// running dev system. The plaintext key lives only here, never in the
// database.
type devInfo struct {
	GraphQLURL string `json:"graphql_url"`
	APIKey     string `json:"api_key"`
	InsurerID  string `json:"insurer_id"`
	KeyID      string `json:"key_id"`
	// PartnersimURL is the in-process partner simulator (admin endpoint
	// under /admin); every check of the dev system goes to it.
	PartnersimURL string             `json:"partnersim_url"`
	ConsoleURL    string             `json:"console_url"`
	ConsoleUsers  []console.DemoUser `json:"console_users"`
}

func devCmd() *cobra.Command {
	var addr, dataDir, logLevel string
	var rateLimit int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system in one process on embedded defaults",
		Long: "Runs the API and the worker in one process with a SQLite file, an in-process Redis,\n" +
			"a local vault key and file-system blobs under --data-dir. Prints the GraphQL URL and a\n" +
			"sandbox API key and writes them to <data-dir>/dev.json.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd, addr, dataDir, logLevel, rateLimit)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().StringVar(&dataDir, "data-dir", "./.borderproof", "where the database, keys and blobs live")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().IntVar(&rateLimit, "rate-limit", 50, "requests per second per API key (bursts of twice that)")
	return cmd
}

func runDev(cmd *cobra.Command, addr, dataDir, logLevel string, rateLimit int) error {
	ctx := cmd.Context()
	if _, ok := levelOK(logLevel); !ok {
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	log := newLogger(logLevel)
	redisSrv, err := queue.StartEmbedded()
	if err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	defer redisSrv.Close()
	cfg := Config{
		DatabaseURL: filepath.Join(dataDir, "borderproof.db"), RedisURL: redisSrv.URL(),
		ListenAddr: addr, LogLevel: logLevel, RateLimitPerSecond: max(rateLimit, 1), RateLimitBurst: 2 * max(rateLimit, 1),
		BodyLimitBytes: 1 << 20, WorkerConcurrency: 10,
		VaultProvider: "local", VaultKeyFile: filepath.Join(dataDir, "vault.key"),
	}
	a, err := openApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.close()
	a.devDir = dataDir
	if err := startTracing(ctx, "borderproof-dev", a); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	sim, err := partnersim.New(partnersim.Config{Population: 1000}, log)
	if err != nil {
		ln.Close()
		return fmt.Errorf("partner simulator: %w", err)
	}
	if err := sim.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("partner simulator: %w", err)
	}
	defer sim.Close()
	a.baseURL = "http://" + ln.Addr().String()
	infoPath := filepath.Join(dataDir, "dev.json")
	info, err := ensureDevTenant(ctx, a, infoPath, "http://"+ln.Addr().String()+"/graphql")
	if err != nil {
		ln.Close()
		return err
	}
	info.PartnersimURL = sim.URLs().HTTP
	if err := writeDevInfo(infoPath, info); err != nil {
		ln.Close()
		return err
	}
	srv, err := a.apiServer(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	// One process: the api's /metrics also reports the queues.
	if qc := queue.NewCollector(a.redis); a.reg.Register(qc) == nil {
		defer qc.Close()
	}
	_ = a.reg.Register(newBacklogCollector(a))
	info.ConsoleURL = a.baseURL + "/console/"
	if info.ConsoleUsers, err = a.console.EnsureDemoUsers(ctx, info.InsurerID); err != nil {
		ln.Close()
		return err
	}
	if err := writeDevInfo(infoPath, info); err != nil {
		ln.Close()
		return err
	}
	w, err := a.worker(ctx, cfg, workerOpts{Sim: sim})
	if err != nil {
		ln.Close()
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nBorderProof dev is ready.\n  GraphQL:  %s\n  API key:  %s\n  Insurer:  %s\n  Partners: %s (simulator)\n  Console:  %s\n",
		info.GraphQLURL, info.APIKey, info.InsurerID, info.PartnersimURL, info.ConsoleURL)
	for _, u := range info.ConsoleUsers {
		fmt.Fprintf(out, "            %-11s %s / %s\n", u.Role, u.Email, u.Password)
	}
	fmt.Fprintf(out, "  Details:  %s\n\nTry:\n  curl -s %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"query\":\"{ viewer { id name mode scopes } }\"}'\n\n",
		infoPath, info.GraphQLURL, info.APIKey)
	err = runAll(cmd,
		func() error { return srv.Serve(ctx, ln) },
		func() error { return w.Run(ctx) },
	)
	log.Info("dev stopped")
	return err
}

func levelOK(s string) (string, bool) {
	switch s {
	case "debug", "info", "warn", "error":
		return s, true
	}
	return "", false
}

// ensureDevTenant reuses the insurer and key recorded in dev.json when the
// key still authenticates, and otherwise creates a demo insurer and a
// sandbox key with every scope.
func ensureDevTenant(ctx context.Context, a *app, path, url string) (devInfo, error) {
	var info devInfo
	if b, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(b, &info) == nil && info.APIKey != "" {
			if _, err := a.tenants.Authenticate(ctx, info.APIKey); err == nil {
				info.GraphQLURL = url
				return info, writeDevInfo(path, info)
			} else if !errs.Is(err, errs.Unauthenticated) {
				return info, err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return info, err
	}
	ins, err := a.tenants.CreateInsurer(ctx, tenant.CreateInsurerInput{Name: "Demo Insurer", Country: "FRA", Mode: tenant.Live})
	if err != nil {
		return info, err
	}
	key, plain, err := a.tenants.CreateKey(ctx, tenant.CreateKeyInput{InsurerID: ins.ID, Name: "dev sandbox", Mode: tenant.Test, Scopes: tenant.AllScopes})
	if err != nil {
		return info, err
	}
	info = devInfo{GraphQLURL: url, APIKey: plain, InsurerID: ins.ID, KeyID: key.ID}
	return info, writeDevInfo(path, info)
}

func writeDevInfo(path string, info devInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
