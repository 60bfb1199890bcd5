package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/borderproof/borderproof/internal/tenant"
)

// startProduction reads the environment, connects, starts tracing and
// listens: the common start of the api and worker processes. The caller
// closes the app.
func startProduction(cmd *cobra.Command, service string) (*app, Config, net.Listener, error) {
	cfg, err := loadConfig("database", "redis", "vault")
	if err != nil {
		return nil, cfg, nil, err
	}
	a, err := openApp(cmd.Context(), cfg, newLogger(cfg.LogLevel), false)
	if err != nil {
		return nil, cfg, nil, err
	}
	if err := startTracing(cmd.Context(), service, a); err != nil {
		a.close()
		return nil, cfg, nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		a.close()
		return nil, cfg, nil, fmt.Errorf("BORDERPROOF_LISTEN_ADDR: %w", err)
	}
	return a, cfg, ln, nil
}

func apiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "api",
		Short: "Serve the GraphQL API (configured by environment)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, cfg, ln, err := startProduction(cmd, "borderproof-api")
			if err != nil {
				return err
			}
			defer a.close()
			srv, err := a.apiServer(cmd.Context(), cfg)
			if err != nil {
				ln.Close()
				return err
			}
			a.log.Info("api listening", "addr", ln.Addr().String())
			return srv.Serve(cmd.Context(), ln)
		},
	}
}

func workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run task handlers and the scheduler (configured by environment)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, cfg, ln, err := startProduction(cmd, "borderproof-worker")
			if err != nil {
				return err
			}
			defer a.close()
			w, err := a.worker(cmd.Context(), cfg, workerOpts{})
			if err != nil {
				ln.Close()
				return err
			}
			a.log.Info("worker started", "concurrency", cfg.WorkerConcurrency, "ops_addr", ln.Addr().String())
			return runAll(cmd,
				func() error { return a.serveOps(cmd.Context(), ln) },
				func() error { return w.Run(cmd.Context()) },
			)
		},
	}
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded database migrations (idempotent)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig("database")
			if err != nil {
				return err
			}
			log := newLogger(cfg.LogLevel)
			a, err := openApp(cmd.Context(), cfg, log, false)
			if err != nil {
				return err
			}
			defer a.close()
			applied, err := a.store.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d migration(s) to %s\n", len(applied), a.store.Dialect())
			for _, p := range applied {
				fmt.Fprintln(cmd.OutOrStdout(), "  "+p)
			}
			return nil
		},
	}
}

func adminCmd() *cobra.Command {
	root := &cobra.Command{Use: "admin", Short: "Operator commands (BORDERPROOF_DATABASE_URL)"}
	withApp := func(cmd *cobra.Command, fn func(a *app) error) error {
		cfg, err := loadConfig("database")
		if err != nil {
			return err
		}
		a, err := openApp(cmd.Context(), cfg, newLogger(cfg.LogLevel), false)
		if err != nil {
			return err
		}
		defer a.close()
		return fn(a)
	}
	printJSON := func(cmd *cobra.Command, v any) error {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}

	var name, country, region, mode string
	var retention int
	createInsurer := &cobra.Command{
		Use:   "create-insurer",
		Short: "Create an insurer (tenant)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				ins, err := a.tenants.CreateInsurer(cmd.Context(), tenant.CreateInsurerInput{
					Name: name, Country: country, Region: region, Mode: tenant.Mode(strings.ToUpper(mode)), RetentionDays: retention,
				})
				if err != nil {
					return err
				}
				return printJSON(cmd, map[string]any{"id": ins.ID, "name": ins.Name, "country": ins.Country, "region": ins.Region, "mode": ins.Mode, "retentionDays": ins.RetentionDays})
			})
		},
	}
	createInsurer.Flags().StringVar(&name, "name", "", "insurer name")
	createInsurer.Flags().StringVar(&country, "country", "", "ISO 3166-1 alpha-3 country")
	createInsurer.Flags().StringVar(&region, "region", "", "data-protection region (default: from the country)")
	createInsurer.Flags().StringVar(&mode, "mode", "live", "live (live and test keys) or test (sandbox only)")
	createInsurer.Flags().IntVar(&retention, "retention-days", 365, "days verifications are kept before erasure")

	var insurerID, keyName, keyMode string
	var scopes, purposes []string
	createKey := &cobra.Command{
		Use:   "create-key",
		Short: "Create an API key; the key is printed once",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				in := tenant.CreateKeyInput{InsurerID: insurerID, Name: keyName, Mode: tenant.Mode(strings.ToUpper(keyMode)), Purposes: purposes}
				for _, s := range scopes {
					in.Scopes = append(in.Scopes, tenant.Scope(s))
				}
				if len(scopes) == 1 && scopes[0] == "all" {
					in.Scopes = tenant.AllScopes
				}
				key, plain, err := a.tenants.CreateKey(cmd.Context(), in)
				if err != nil {
					return err
				}
				return printJSON(cmd, map[string]any{"id": key.ID, "key": plain, "prefix": key.Prefix, "mode": key.Mode, "scopes": key.Scopes})
			})
		},
	}
	createKey.Flags().StringVar(&insurerID, "insurer", "", "insurer id")
	createKey.Flags().StringVar(&keyName, "name", "", "a label for the key")
	createKey.Flags().StringVar(&keyMode, "mode", "test", "live or test")
	createKey.Flags().StringSliceVar(&scopes, "scopes", nil, "comma-separated scopes, or all")
	createKey.Flags().StringSliceVar(&purposes, "purposes", nil, "restrict consent purposes (default: any)")

	var revokeInsurer, revokeID string
	revokeKey := &cobra.Command{
		Use:   "revoke-key",
		Short: "Revoke an API key",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withApp(cmd, func(a *app) error {
				if err := a.tenants.RevokeKey(cmd.Context(), revokeInsurer, revokeID); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "revoked", revokeID)
				return nil
			})
		},
	}
	revokeKey.Flags().StringVar(&revokeInsurer, "insurer", "", "insurer id")
	revokeKey.Flags().StringVar(&revokeID, "key", "", "key id (key_…)")

	root.AddCommand(createInsurer, createKey, revokeKey)
	root.AddCommand(adminExtraCommands(withApp, printJSON)...)
	return root
}

// runAll runs fns until the first fails or all return.
func runAll(cmd *cobra.Command, fns ...func() error) error {
	g, _ := errgroup.WithContext(cmd.Context())
	for _, f := range fns {
		g.Go(f)
	}
	return g.Wait()
}

var _ = os.Stdout
