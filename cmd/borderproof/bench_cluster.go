package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/borderproof/borderproof/internal/bench"
)

// clusterCommands are the multi-process harnesses: bench cluster and bench
// faults. benchCmd adds them.
func clusterCommands() []*cobra.Command {
	return []*cobra.Command{benchClusterCmd(), benchFaultsCmd()}
}

// clusterFlags are the flags shared by the multi-process harnesses.
type clusterFlags struct {
	bin, redisServer, database, logLevel string
	keep                                 bool
	seed                                 uint64
}

func (f *clusterFlags) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.bin, "bin", "", "the borderproof binary the processes run (default: this executable)")
	cmd.Flags().StringVar(&f.redisServer, "redis-server", "redis-server", "redis-server executable (each cluster runs its own on a free port)")
	cmd.Flags().StringVar(&f.database, "database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL (loopback); each cluster uses a fresh schema, dropped at the end")
	cmd.Flags().StringVar(&f.logLevel, "log-level", "warn", "log level of the processes (their logs go to the cluster's directory)")
	cmd.Flags().BoolVar(&f.keep, "keep", false, "keep the schemas and the cluster directories (logs) at the end")
	cmd.Flags().Uint64Var(&f.seed, "seed", 1, "population seed of the simulator")
}

func (f *clusterFlags) config() (bench.ClusterConfig, error) {
	bin := f.bin
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return bench.ClusterConfig{}, fmt.Errorf("--bin: %w", err)
		}
		bin = exe
	}
	if err := bench.CheckLoopback(f.database); err != nil {
		return bench.ClusterConfig{}, fmt.Errorf("--database: %w", err)
	}
	if _, ok := levelOK(f.logLevel); !ok {
		return bench.ClusterConfig{}, errors.New("--log-level must be debug, info, warn or error")
	}
	return bench.ClusterConfig{Binary: bin, RedisServer: f.redisServer, DatabaseURL: f.database, LogLevel: f.logLevel, Keep: f.keep, Seed: f.seed}, nil
}

func benchClusterCmd() *cobra.Command {
	var cf clusterFlags
	var cfg bench.ClusterRunConfig
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Many processes, one system: two api and two worker processes, faults on the way, nothing lost",
		Long: "Starts on loopback, from one borderproof binary: a Redis of its own (append-only file, free port),\n" +
			"a fresh PostgreSQL schema, migrate, a standalone partner simulator (zero latency), an insurer and\n" +
			"a sandbox key (admin commands), --apis api and --workers worker processes, and a webhook receiver\n" +
			"in this process that verifies signatures and deduplicates by webhook-id. Submits --verifications\n" +
			"people from the simulator's export alternating between the api processes; at --kill-at of the\n" +
			"submissions one worker gets SIGKILL (restarted --kill-for later), at --redis-at Redis is shut down\n" +
			"and started again on the same port and file. Waits for every outcome and webhook, then prints one\n" +
			"JSON line. The goal: lost 0, duplicate_usage_rows 0, unpriced_usage_rows 0 and rollup_units_off 0\n" +
			"(webhook duplicates are allowed by at-least-once delivery, and counted).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cf.config()
			if err != nil {
				return err
			}
			cc.APIs, cc.Workers = cfg.Cluster.APIs, cfg.Cluster.Workers
			cc.Name = runID()
			cfg.Cluster = cc
			stderr := cmd.ErrOrStderr()
			run, err := bench.RunCluster(cmd.Context(), cfg, stderr)
			if err != nil && run.Tally.Submitted == 0 {
				return err
			}
			fmt.Fprintf(stderr, "\nfaults:\n")
			for _, e := range run.Events {
				fmt.Fprintf(stderr, "  %s\n", e)
			}
			t := run.Tally
			fmt.Fprintf(stderr, "submitted %d in %s (%d retried requests), completed %d, lost %d, all in %s; settled: %v\n",
				t.Submitted, run.Submit.Last.Sub(run.Submit.Start).Round(time.Millisecond), run.Submit.Retries, t.Completed, t.Lost,
				run.Duration.Round(time.Millisecond), run.Settled)
			fmt.Fprintf(stderr, "usage rows %d for %d billable checks (%d should not exist, %d missing, %d not priced, rollups off by %d units); %d checks failed\n",
				t.UsageRows, t.BillableChecks, t.DuplicateUsageRows, t.MissingUsageRows, t.UnpricedUsage, t.RollupUnitsOff, t.FailedChecks)
			fmt.Fprintf(stderr, "webhooks: %d expected, %d received once, %d repeats, %d rejected, %d facts under several ids; events: %d duplicate, %d missing\n",
				t.WebhooksExpected, t.WebhooksUnique, t.WebhooksDuplicates, t.WebhooksRejected, t.WebhooksSplit, t.DuplicateEvents, t.MissingEvents)
			if len(run.Submit.Refused) > 0 {
				fmt.Fprintf(stderr, "never acknowledged: %v\n", run.Submit.Refused)
			}
			if werr := bench.WriteJSONLine(cmd.OutOrStdout(), run.Line()); werr != nil {
				return werr
			}
			return err
		},
	}
	cf.flags(cmd)
	cmd.Flags().IntVar(&cfg.Verifications, "verifications", 1000, "verifications to submit")
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 16, "submissions in flight and each worker's concurrency")
	cmd.Flags().IntVar(&cfg.Cluster.APIs, "apis", 2, "api processes")
	cmd.Flags().IntVar(&cfg.Cluster.Workers, "workers", 2, "worker processes")
	cmd.Flags().DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "bound on waiting for outcomes and webhooks after the last submission")
	cmd.Flags().Float64Var(&cfg.KillAt, "kill-at", 0.3, "share of submissions at which one worker gets SIGKILL (negative: never)")
	cmd.Flags().DurationVar(&cfg.KillFor, "kill-for", 3*time.Second, "how long the killed worker stays down")
	cmd.Flags().Float64Var(&cfg.RedisAt, "redis-at", 0.6, "share of submissions at which Redis is restarted (negative: never)")
	return cmd
}

func benchFaultsCmd() *cobra.Command {
	var cf clusterFlags
	var cfg bench.FaultsConfig
	var scenarios []string
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "The fault suite: named faults against fresh clusters, each compared with a fault-free baseline",
		Long: "Runs a fault-free baseline and then each scenario against a fresh cluster (as bench cluster builds\n" +
			"it), with --verifications submissions at --rate per second, and waits at most --timeout for every\n" +
			"outcome, webhook and (for stripe-500) Stripe sync. Scenarios: " + strings.Join(bench.ScenarioNames()[1:], ", ") + ".\n" +
			"postgres-restart runs on a PostgreSQL cluster of its own (initdb in a temporary directory, as the\n" +
			"postgres user when run as root); stripe-500 runs stripe-mock behind a proxy that fails on demand.\n" +
			"Prints a table on stderr and, on stdout, one JSON line per scenario and a summary line. The goal:\n" +
			"zero lost, zero duplicated, completion at least 0.95 of the baseline's.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cf.config()
			if err != nil {
				return err
			}
			cc.WorkerConcurrency = cfg.Cluster.WorkerConcurrency
			cfg.Cluster = cc
			cfg.Scenarios = scenarios
			cfg.RunID = runID()
			if cfg.StripeMock == "" {
				cfg.StripeMock = "stripe-mock"
				if _, err := os.Stat("bin/stripe-mock"); err == nil {
					cfg.StripeMock = "bin/stripe-mock"
				}
			}
			out := cmd.OutOrStdout()
			stderr := cmd.ErrOrStderr()
			start := time.Now()
			lines, err := bench.RunFaults(cmd.Context(), cfg, stderr, func(l bench.ScenarioLine) error {
				return bench.WriteJSONLine(out, l)
			})
			if len(lines) > 0 {
				fmt.Fprintln(stderr)
				if terr := bench.WriteFaultsTable(stderr, lines); terr != nil {
					return terr
				}
				for _, l := range lines {
					if l.Error != "" {
						fmt.Fprintf(stderr, "%s: %s\n", l.Scenario, l.Error)
					}
				}
				if werr := bench.WriteJSONLine(out, bench.SummarizeFaults(lines, time.Since(start))); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	cf.flags(cmd)
	cmd.Flags().StringSliceVar(&scenarios, "scenario", nil, "run only these scenarios (repeat or comma-separate; the baseline always runs)")
	cmd.Flags().IntVar(&cfg.Verifications, "verifications", 100, "verifications per scenario")
	cmd.Flags().Float64Var(&cfg.Rate, "rate", 25, "normal submissions per second (burst: 10x)")
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 8, "normal submissions in flight (burst: 10x)")
	cmd.Flags().IntVar(&cfg.Cluster.WorkerConcurrency, "worker-concurrency", 16, "each worker's concurrency")
	cmd.Flags().DurationVar(&cfg.PartnerLatency, "partner-latency", 20*time.Millisecond, "nominal latency of every simulated partner (partner-slow: 10x)")
	cmd.Flags().DurationVar(&cfg.Hold, "hold", 10*time.Second, "how long the partner outage and the Stripe failure last")
	cmd.Flags().DurationVar(&cfg.Timeout, "timeout", 150*time.Second, "per scenario, bound on waiting for everything to settle after the fault and the submissions")
	cmd.Flags().StringVar(&cfg.StripeMock, "stripe-mock", "", "stripe-mock executable (default: bin/stripe-mock when present, else PATH)")
	cmd.Flags().StringVar(&cfg.PostgresBin, "postgres-bin", "", "directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin, else PATH)")
	cmd.Flags().Float64Var(&cfg.MinVsBaseline, "min-vs-baseline", 0.95, "completion a scenario must reach, as a share of the baseline's")
	return cmd
}
