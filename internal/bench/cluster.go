package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/borderproof/borderproof/internal/outbox"
	"github.com/borderproof/borderproof/internal/partnersim"
	"github.com/borderproof/borderproof/internal/webhook"
)

// This file is the multi-process harness: a system of separate processes
// on loopback (its own Redis, a fresh PostgreSQL schema, the partner
// simulator, several api and worker processes of one borderproof binary),
// a webhook receiver in this process, a submission driver that retries the
// way a client should, and the tally of what the database and the receiver
// saw at the end.

// Proc is one child process: a command line and an environment, its output
// appended to a log file, started, killed and restarted on demand.
type Proc struct {
	Name    string
	LogPath string
	path    string
	args    []string
	env     []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newProc(name, path string, args, env []string, logDir string) *Proc {
	return &Proc{Name: name, LogPath: filepath.Join(logDir, name+".log"), path: path, args: args, env: env}
}

// Start starts the process; it must not be running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running", p.Name)
		}
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "--- %s start %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.Name)
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Running reports whether the process has been started and not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() error { return p.signal(syscall.SIGKILL, 0) }

// Stop sends SIGTERM, waits up to grace, then kills.
func (p *Proc) Stop(grace time.Duration) error { return p.signal(syscall.SIGTERM, grace) }

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-done:
			return nil
		case <-time.After(grace):
		}
		_ = cmd.Process.Kill()
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not exit", p.Name)
	}
}

// exited reports, without blocking, an exit before readiness.
func (p *Proc) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines of the process's log, for error messages.
func (p *Proc) tail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}

// waitReady polls check until it succeeds, the process exits, or timeout.
func (p *Proc) waitReady(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (log %s):\n%s", p.Name, p.LogPath, p.tail())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not ready after %s: %v (log %s)", p.Name, timeout, last, p.LogPath)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// httpOK is a readiness check: GET url answers 200.
func httpOK(hc *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// newLoopbackHTTP is a client for readiness and admin calls on loopback.
func newLoopbackHTTP() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is this process's environment without any BORDERPROOF_
// variable (the operator's own configuration must not leak into the
// cluster), plus extra.
func childEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BORDERPROOF_") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// Redis is a redis-server of the harness's own, on a free loopback port,
// with an append-only file in its directory so that a restart keeps what it
// acknowledged.
type Redis struct {
	Port   int
	Dir    string
	proc   *Proc
	client *redis.Client
}

// StartRedis starts redis-server (bin) with its data in dir.
func StartRedis(ctx context.Context, bin, dir, logDir string) (*Redis, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
		"--appendfsync", "everysec", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"}
	r := &Redis{Port: port, Dir: dir, proc: newProc("redis", bin, args, childEnv(), logDir)}
	r.client = redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	if err := r.Start(ctx); err != nil {
		r.client.Close()
		return nil, err
	}
	return r, nil
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Start (re)starts the server on its port and directory and waits for PING.
func (r *Redis) Start(ctx context.Context) error {
	if err := r.proc.Start(); err != nil {
		return err
	}
	return r.proc.waitReady(ctx, 15*time.Second, func(ctx context.Context) error { return r.client.Ping(ctx).Err() })
}

// Shutdown asks the server to stop (SHUTDOWN: the append-only file is
// flushed) and waits for it to exit.
func (r *Redis) Shutdown(ctx context.Context) error {
	_ = r.client.Shutdown(ctx).Err() // the connection closes under the reply
	return r.proc.Stop(10 * time.Second)
}

// Kill stops the server with SIGKILL: what the last second of the
// append-only file held may be gone.
func (r *Redis) Kill() error { return r.proc.Kill() }

// FlushAll empties every database.
func (r *Redis) FlushAll(ctx context.Context) error { return r.client.FlushAll(ctx).Err() }

// Close kills the server and closes the harness's connection.
func (r *Redis) Close() {
	r.client.Close()
	_ = r.proc.Kill()
}

// ClusterConfig describes a system of separate processes on loopback.
type ClusterConfig struct {
	// Binary is the borderproof binary every process runs.
	Binary string
	// RedisServer is the redis-server executable (default "redis-server").
	RedisServer string
	// DatabaseURL is a loopback PostgreSQL server; the cluster uses a fresh
	// schema in it, named Name, dropped at Close unless Keep.
	DatabaseURL string
	Name        string
	// APIs and Workers are how many processes of each (default 2 and 2).
	APIs, Workers int
	// WorkerConcurrency is BORDERPROOF_WORKER_CONCURRENCY (default 16).
	WorkerConcurrency int
	// People is how many people to submit; the simulator gets a few more
	// so that enough remain once SLOW_CASE people (who keep a verification
	// open for days of simulated time) are left out.
	People int
	Seed   uint64
	// LogLevel of the processes (default warn); their logs go to Dir.
	LogLevel string
	// Dir holds the run's files (default: a new temporary directory).
	Dir  string
	Keep bool
	// StripeAPIBase, when set, gives the workers a test-mode Stripe key on
	// that base URL, so billing sync sends sandbox usage there, and
	// creates the insurer's Stripe customer.
	StripeAPIBase string
	// Log receives one line per step (nil: none).
	Log io.Writer
	// InPlaceWorker runs the first worker as a container runs it: in a PID
	// namespace of its own (unshare, which needs root), where it is pid 1,
	// so that started again it goes by the same process name (host:1) as
	// a container restarted in place does.
	InPlaceWorker bool
}

// inPlace is the command line that runs args as pid 1 of a PID namespace
// of its own; the process dies with the unshare that started it.
var inPlace = []string{"unshare", "--pid", "--fork", "--kill-child"}

// CheckInPlace tells whether this machine can run InPlaceWorker.
func CheckInPlace(ctx context.Context) error {
	if out, err := exec.CommandContext(ctx, inPlace[0], append(inPlace[1:], "true")...).CombinedOutput(); err != nil {
		return fmt.Errorf("a worker in a PID namespace of its own needs %s as root: %v %s", inPlace[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *ClusterConfig) defaults() {
	if c.RedisServer == "" {
		c.RedisServer = "redis-server"
	}
	if c.APIs <= 0 {
		c.APIs = 2
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.WorkerConcurrency <= 0 {
		c.WorkerConcurrency = 16
	}
	if c.LogLevel == "" {
		c.LogLevel = "warn"
	}
	if c.People <= 0 {
		c.People = 100
	}
}

// Cluster is a running multi-process system.
type Cluster struct {
	cfg ClusterConfig
	// Dir holds the logs, keys, blobs, the simulator's export and Redis's
	// append-only file.
	Dir string
	// DatabaseURL is the fresh schema's URL; DB is the harness's own
	// connection to it.
	DatabaseURL string
	DB          *sql.DB
	Redis       *Redis
	Sim         *Proc
	// SimURL is the simulator's plain HTTP base (admin under /admin).
	SimURL  string
	APIs    []*Proc
	Workers []*Proc
	// GraphQL holds one URL per api process.
	GraphQL   []string
	InsurerID string
	APIKey    string
	// People are the simulator's people to submit, SLOW_CASE left out.
	People []Person

	env      []string
	hc       *http.Client
	readyURL map[*Proc]string
	closers  []func()
}

func (c *Cluster) logf(format string, args ...any) {
	if c.cfg.Log != nil {
		fmt.Fprintf(c.cfg.Log, format+"\n", args...)
	}
}

// StartCluster starts Redis, migrates a fresh schema, starts the partner
// simulator (zero latency), creates an insurer and a sandbox key with the
// admin commands, then starts the api and worker processes and waits until
// each is ready. On error everything started is stopped.
func StartCluster(ctx context.Context, cfg ClusterConfig) (c *Cluster, err error) {
	cfg.defaults()
	if cfg.Binary == "" {
		return nil, errors.New("cluster: the borderproof binary is required")
	}
	if err := CheckLoopback(cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if cfg.StripeAPIBase != "" {
		if err := CheckLoopback(cfg.StripeAPIBase); err != nil {
			return nil, fmt.Errorf("stripe: %w", err)
		}
	}
	c = &Cluster{cfg: cfg, hc: newLoopbackHTTP(), readyURL: map[*Proc]string{}}
	c.closers = append(c.closers, c.hc.CloseIdleConnections)
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.Dir = cfg.Dir
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "borderproof-cluster-"); err != nil {
			return c, err
		}
		if !cfg.Keep {
			c.closers = append(c.closers, func() { os.RemoveAll(c.Dir) })
		}
	} else if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return c, err
	}
	if cfg.Keep {
		c.logf("cluster: keeping %s and schema %s", c.Dir, cfg.Name)
	}
	logDir := filepath.Join(c.Dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return c, err
	}

	// Secrets shared by every process.
	vaultKey := filepath.Join(c.Dir, "vault.key")
	if err := os.WriteFile(vaultKey, []byte(randomBase64(32)+"\n"), 0o600); err != nil {
		return c, err
	}
	blobDir := filepath.Join(c.Dir, "blobs")
	if err := os.MkdirAll(blobDir, 0o700); err != nil {
		return c, err
	}

	c.logf("cluster: redis")
	if c.Redis, err = StartRedis(ctx, cfg.RedisServer, filepath.Join(c.Dir, "redis"), logDir); err != nil {
		return c, fmt.Errorf("redis: %w", err)
	}
	c.closers = append(c.closers, c.Redis.Close)

	c.logf("cluster: fresh schema %s", cfg.Name)
	dbURL, drop, err := FreshDatabase(ctx, cfg.DatabaseURL, cfg.Name, c.Dir)
	if err != nil {
		return c, fmt.Errorf("database: %w", err)
	}
	c.DatabaseURL = dbURL
	if !cfg.Keep {
		c.closers = append(c.closers, func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = drop(dctx)
		})
	}
	if c.DB, err = sql.Open("pgx", dbURL); err != nil {
		return c, err
	}
	c.closers = append(c.closers, func() { c.DB.Close() })

	simPort, err := freePort()
	if err != nil {
		return c, err
	}
	simTLSPort, err := freePort()
	if err != nil {
		return c, err
	}
	c.SimURL = "http://127.0.0.1:" + strconv.Itoa(simPort)
	tlsDir := filepath.Join(c.Dir, "partnersim")
	c.env = childEnv(
		"BORDERPROOF_DATABASE_URL="+dbURL,
		"BORDERPROOF_REDIS_URL="+c.Redis.URL(),
		"BORDERPROOF_LOG_LEVEL="+cfg.LogLevel,
		"BORDERPROOF_VAULT_PROVIDER=local",
		"BORDERPROOF_VAULT_KEY_FILE="+vaultKey,
		"BORDERPROOF_BLOB_DIR="+blobDir,
		"BORDERPROOF_BLOB_SIGNING_KEY="+randomBase64(32),
		"BORDERPROOF_EVIDENCE_SIGNING_KEY="+randomBase64(32),
		"BORDERPROOF_PARTNERSIM_URL="+c.SimURL,
		"BORDERPROOF_PARTNERSIM_TLS_URL=https://127.0.0.1:"+strconv.Itoa(simTLSPort),
		"BORDERPROOF_PARTNERSIM_TLS_DIR="+tlsDir,
		"BORDERPROOF_WEBHOOK_ALLOWLIST=127.0.0.0/8",
		"BORDERPROOF_RATE_LIMIT_PER_SECOND=1000000",
		"BORDERPROOF_RATE_LIMIT_BURST=1000000",
		"BORDERPROOF_WORKER_CONCURRENCY="+strconv.Itoa(cfg.WorkerConcurrency),
	)
	if cfg.StripeAPIBase != "" {
		c.env = append(c.env, "BORDERPROOF_STRIPE_TEST_API_KEY=sk_test_borderproofbench", "BORDERPROOF_STRIPE_API_BASE="+cfg.StripeAPIBase)
	}

	c.logf("cluster: migrate")
	if _, err := c.run(ctx, "migrate", "migrate"); err != nil {
		return c, err
	}

	c.logf("cluster: partner simulator")
	population := cfg.People + cfg.People/10 + 20
	export := filepath.Join(c.Dir, "population.jsonl")
	c.Sim = newProc("partnersim", cfg.Binary, []string{"partnersim",
		"--addr", "127.0.0.1:" + strconv.Itoa(simPort), "--tls-addr", "127.0.0.1:" + strconv.Itoa(simTLSPort),
		"--seed", strconv.FormatUint(cfg.Seed, 10), "--population", strconv.Itoa(population),
		"--export", export, "--tls-dir", tlsDir, "--log-level", cfg.LogLevel}, c.env, logDir)
	if err := c.Sim.Start(); err != nil {
		return c, err
	}
	c.closers = append(c.closers, func() { _ = c.Sim.Stop(3 * time.Second) })
	if err := c.Sim.waitReady(ctx, 60*time.Second, httpOK(c.hc, c.SimURL+"/admin/population")); err != nil {
		return c, err
	}
	if c.People, err = readExport(export, "cluster-"+cfg.Name+"-", cfg.People); err != nil {
		return c, err
	}

	c.logf("cluster: insurer and sandbox key")
	out, err := c.run(ctx, "admin", "admin", "create-insurer", "--name", "Cluster Bench Insurer", "--country", "FRA", "--mode", "live")
	if err != nil {
		return c, err
	}
	var ins struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &ins); err != nil || ins.ID == "" {
		return c, fmt.Errorf("admin create-insurer: unexpected output")
	}
	c.InsurerID = ins.ID
	if out, err = c.run(ctx, "admin", "admin", "create-key", "--insurer", ins.ID, "--name", "cluster bench", "--mode", "test", "--scopes", "all"); err != nil {
		return c, err
	}
	var key struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &key); err != nil || key.Key == "" {
		return c, fmt.Errorf("admin create-key: unexpected output")
	}
	c.APIKey = key.Key
	if cfg.StripeAPIBase != "" {
		if _, err := c.run(ctx, "admin", "admin", "billing", "sync-customers"); err != nil {
			return c, err
		}
	}

	for i := range cfg.APIs {
		port, err := freePort()
		if err != nil {
			return c, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p := newProc(fmt.Sprintf("api-%d", i+1), cfg.Binary, []string{"api"}, append(slices.Clone(c.env), "BORDERPROOF_LISTEN_ADDR="+addr), logDir)
		c.APIs = append(c.APIs, p)
		c.GraphQL = append(c.GraphQL, "http://"+addr+"/graphql")
		c.readyURL[p] = "http://" + addr + "/readyz"
	}
	for i := range cfg.Workers {
		port, err := freePort()
		if err != nil {
			return c, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		path, args := cfg.Binary, []string{"worker"}
		if i == 0 && cfg.InPlaceWorker {
			path, args = inPlace[0], append(slices.Clone(inPlace[1:]), cfg.Binary, "worker")
		}
		p := newProc(fmt.Sprintf("worker-%d", i+1), path, args, append(slices.Clone(c.env), "BORDERPROOF_LISTEN_ADDR="+addr), logDir)
		c.Workers = append(c.Workers, p)
		c.readyURL[p] = "http://" + addr + "/readyz"
	}
	c.logf("cluster: %d api and %d worker processes", len(c.APIs), len(c.Workers))
	all := append(slices.Clone(c.APIs), c.Workers...)
	for _, p := range all {
		if err := p.Start(); err != nil {
			return c, err
		}
		c.closers = append(c.closers, func() { _ = p.Stop(3 * time.Second) })
	}
	for _, p := range all {
		if err := c.WaitReady(ctx, p); err != nil {
			return c, err
		}
	}
	return c, nil
}

// WaitReady waits until one of the cluster's api or worker processes
// answers /readyz.
func (c *Cluster) WaitReady(ctx context.Context, p *Proc) error {
	return p.waitReady(ctx, 60*time.Second, httpOK(c.hc, c.readyURL[p]))
}

// Restart starts a stopped or killed process again and waits for it.
func (c *Cluster) Restart(ctx context.Context, p *Proc) error {
	if err := p.Start(); err != nil {
		return err
	}
	return c.WaitReady(ctx, p)
}

// run runs one borderproof subcommand to completion and returns its
// standard output.
func (c *Cluster) run(ctx context.Context, logName string, args ...string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, c.cfg.Binary, args...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	logPath := filepath.Join(c.Dir, "logs", logName+".log")
	if f, ferr := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); ferr == nil {
		fmt.Fprintf(f, "--- %s\n%s", strings.Join(args[:min(len(args), 3)], " "), stderr.Bytes())
		f.Close()
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 800 {
			msg = msg[len(msg)-800:]
		}
		return nil, fmt.Errorf("borderproof %s: %w: %s", strings.Join(args[:min(len(args), 3)], " "), err, msg)
	}
	return stdout.Bytes(), nil
}

// Close stops every process and removes what the cluster created (unless
// Keep).
func (c *Cluster) Close() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}

// Clients returns one GraphQL client per api process.
func (c *Cluster) Clients(conns int) ([]*Client, error) {
	var out []*Client
	for _, u := range c.GraphQL {
		cl, err := NewClient(u, c.APIKey, conns)
		if err != nil {
			return nil, err
		}
		out = append(out, cl)
	}
	return out, nil
}

// SetPartnerFault replaces the simulator's fault injection of every
// protocol (the zero Fault clears it).
func (c *Cluster) SetPartnerFault(ctx context.Context, f partnersim.Fault) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	for _, p := range partnersim.Protocols {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.SimURL+"/admin/faults/"+p, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.hc.Do(req)
		if err != nil {
			return fmt.Errorf("simulator admin: %w", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("simulator admin: PUT faults/%s: %s", p, resp.Status)
		}
	}
	return nil
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// readExport reads the simulator's export and returns the first n people
// that are not SLOW_CASE, as submissions whose idempotency keys start with
// keyPrefix.
func readExport(path, keyPrefix string, n int) ([]Person, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("simulator export: %w", err)
	}
	defer f.Close()
	var out []Person
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() && len(out) < n {
		var rec partnersim.ExportRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("simulator export: %w", err)
		}
		if rec.Label == partnersim.LabelSlowCase {
			continue
		}
		p, err := exportPerson(rec, keyPrefix)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("simulator export: %w", err)
	}
	if len(out) < n {
		return nil, fmt.Errorf("simulator export: %d people without a slow case, %d wanted", len(out), n)
	}
	return out, nil
}

// exportPerson turns an export record into a submission.
func exportPerson(rec partnersim.ExportRecord, keyPrefix string) (Person, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return Person{}, err
	}
	var in map[string]any
	if err := json.Unmarshal(b, &in); err != nil {
		return Person{}, err
	}
	delete(in, "label")
	in["idempotencyKey"] = keyPrefix + rec.IdempotencyKey
	return Person{Label: string(rec.Label), Input: in}, nil
}

// WebhookEvents are the event types the harness's endpoint subscribes to:
// one per verification that reaches its final outcome.
func WebhookEvents() []string {
	return []string{outbox.VerificationCompleted, outbox.VerificationFailed}
}

const createEndpointMutation = `mutation Create($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id } }
}`

// CreateWebhookEndpoint registers url for WebhookEvents through the API
// and returns the endpoint's signing secret.
func CreateWebhookEndpoint(ctx context.Context, c *Client, url string) (string, error) {
	var out struct {
		Create struct {
			Secret string `json:"secret"`
		} `json:"createWebhookEndpoint"`
	}
	in := map[string]any{"url": url, "events": WebhookEvents(), "description": "cluster bench receiver"}
	if err := c.Do(ctx, createEndpointMutation, map[string]any{"input": in}, &out); err != nil {
		return "", err
	}
	if out.Create.Secret == "" {
		return "", errors.New("createWebhookEndpoint returned no secret")
	}
	return out.Create.Secret, nil
}

// Receiver is a webhook endpoint: it verifies every message with
// webhook.Verify, answers 401 to a bad one, and deduplicates by webhook-id
// (a repeated id is acknowledged again but counted as a duplicate). It can
// be taken down and brought back on the same address.
type Receiver struct {
	now func() time.Time

	mu       sync.Mutex
	secret   string
	delay    time.Duration
	addr     string
	srv      *http.Server
	byID     map[string]int
	subjects map[string]map[string]bool
	rejected int
	lastNew  time.Time
}

// NewReceiver builds a receiver; SetSecret before messages arrive.
func NewReceiver() *Receiver {
	return &Receiver{now: time.Now, byID: map[string]int{}, subjects: map[string]map[string]bool{}}
}

// SetSecret sets the signing secret messages are verified with.
func (r *Receiver) SetSecret(secret string) {
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
}

// SetDelay makes the receiver answer each message d after it arrived, as
// a slow endpoint does; a message whose sender went away meanwhile is not
// received (it was never answered).
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// Start listens on addr ("127.0.0.1:0" the first time; empty: the address
// of the previous Start).
func (r *Receiver) Start(addr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		return errors.New("receiver already started")
	}
	if addr == "" {
		addr = r.addr
	}
	if err := CheckLoopback(addr); err != nil {
		return err
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger an instant
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return nil
}

// Stop closes the listener and every connection: senders get connection
// refused until the next Start.
func (r *Receiver) Stop() error {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// URL is where the receiver listens.
func (r *Receiver) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "http://" + r.addr + "/hooks"
}

// ServeHTTP receives one message.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret, delay := r.secret, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return // the sender went away before the answer
		}
	}
	if err := webhook.Verify(secret, req.Header, body, r.now(), 0); err != nil {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var env struct {
		Type string `json:"type"`
		Data struct {
			VerificationID string `json:"verificationId"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	msgID := req.Header.Get(webhook.HeaderID)
	subject := env.Type + "/" + env.Data.VerificationID
	r.mu.Lock()
	if r.byID[msgID] == 0 {
		r.lastNew = r.now()
	}
	r.byID[msgID]++
	if r.subjects[subject] == nil {
		r.subjects[subject] = map[string]bool{}
	}
	r.subjects[subject][msgID] = true
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// LastNew is when the latest message not seen before arrived (zero: none).
func (r *Receiver) LastNew() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastNew
}

// ReceiverStats is what a receiver got.
type ReceiverStats struct {
	// Unique messages (distinct webhook-id) that verified.
	Unique int
	// Duplicates are repeated deliveries of a message already received
	// (allowed by at-least-once delivery).
	Duplicates int
	// Rejected messages failed verification.
	Rejected int
	// SplitSubjects are (event type, verification) pairs that arrived under
	// more than one webhook-id: the same fact sent as different messages,
	// which a receiver cannot deduplicate.
	SplitSubjects int
}

// Stats returns the counts so far.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ReceiverStats{Unique: len(r.byID), Rejected: r.rejected}
	for _, n := range r.byID {
		s.Duplicates += n - 1
	}
	for _, ids := range r.subjects {
		if len(ids) > 1 {
			s.SplitSubjects++
		}
	}
	return s
}

// SubmitConfig drives submissions.
type SubmitConfig struct {
	Concurrency int
	// Rate bounds submissions per second (0: as fast as Concurrency allows).
	Rate float64
	// RetryFor is how long one person's submission is retried, with the
	// same idempotency key, after answers a client should retry
	// (UNAVAILABLE, INTERNAL, RATE_LIMITED, 5xx, transport errors).
	RetryFor time.Duration
	// OnAck is called after each acknowledged submission with the count
	// so far (nil: nothing).
	OnAck func(n int)
}

// SubmitResult is what the submissions got.
type SubmitResult struct {
	// IDs are the acknowledged verifications, distinct.
	IDs []string
	// Refused counts people whose submission was never acknowledged, by
	// the last error code.
	Refused map[string]int
	// Retries counts the repeated requests.
	Retries     int
	Start, Last time.Time
}

// retriable reports whether a client should send a submission again with
// the same idempotency key after this error code.
func retriable(code string) bool {
	switch code {
	case "UNAVAILABLE", "INTERNAL", "RATE_LIMITED", "TRANSPORT", "TIMEOUT":
		return true
	}
	return strings.HasPrefix(code, "HTTP_5") || code == "HTTP_429"
}

// SubmitAll submits every person, person i through clients[i % len], and
// retries what a client should retry.
func SubmitAll(ctx context.Context, clients []*Client, people []Person, cfg SubmitConfig) SubmitResult {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	res := SubmitResult{Refused: map[string]int{}, Start: time.Now()}
	seen := map[string]bool{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	for i, p := range people {
		if lim != nil && lim.Wait(gctx) != nil {
			break
		}
		if gctx.Err() != nil {
			break
		}
		c := clients[i%len(clients)]
		g.Go(func() error {
			id, code, retries := submitOne(gctx, c, p.Input, cfg.RetryFor)
			mu.Lock()
			defer mu.Unlock()
			res.Retries += retries
			if code != "" {
				res.Refused[code]++
				return nil
			}
			if !seen[id] {
				seen[id] = true
				res.IDs = append(res.IDs, id)
			}
			res.Last = time.Now()
			if cfg.OnAck != nil {
				cfg.OnAck(len(res.IDs))
			}
			return nil
		})
	}
	_ = g.Wait()
	return res
}

func submitOne(ctx context.Context, c *Client, input map[string]any, retryFor time.Duration) (id, code string, retries int) {
	t0 := time.Now()
	wait := 100 * time.Millisecond
	for {
		sub, err := c.Submit(ctx, input)
		if err == nil && sub.ID != "" {
			return sub.ID, "", retries
		}
		code = "EMPTY"
		if err != nil {
			code = ErrorCode(err)
		}
		if !retriable(code) || ctx.Err() != nil || time.Since(t0)+wait > retryFor {
			return "", code, retries
		}
		retries++
		select {
		case <-ctx.Done():
			return "", code, retries
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// Tally is what the database and the receiver show at one moment.
type Tally struct {
	// Submitted is how many verifications were acknowledged.
	Submitted int
	// Completed of them have a final outcome (COMPLETED or FAILED).
	Completed int
	// Lost are verifications acknowledged to the client, or present in the
	// database, without a final outcome.
	Lost int
	// UsageRows is every usage row; BillableChecks the checks that should
	// have one (COMPLETED with a partner answer on a metered check type).
	UsageRows, BillableChecks int
	// DuplicateUsageRows are rows that should not exist (UsageAnomalies);
	// MissingUsageRows billable checks without a row.
	DuplicateUsageRows, MissingUsageRows int
	// FailedChecks ended FAILED (partner unavailable, rejected, timed out).
	FailedChecks int
	// WebhooksExpected is the number of events of WebhookEvents; each
	// should reach the receiver once (as one webhook-id).
	WebhooksExpected int
	// DuplicateEvents are events of one type for one verification beyond
	// the first; MissingEvents verifications with a final outcome but no
	// event of WebhookEvents.
	DuplicateEvents, MissingEvents                       int
	WebhooksUnique, WebhooksDuplicates, WebhooksRejected int
	WebhooksSplit                                        int
	// UnsyncedUsage are usage rows not yet accepted by Stripe.
	UnsyncedUsage int
	// UnpricedUsage are usage rows billing:rollup has not priced yet;
	// RollupUnitsOff is how far the monthly running totals are from the
	// units of the priced rows (0: each unit counted once).
	UnpricedUsage, RollupUnitsOff int
}

// WebhooksUndelivered is expected messages the receiver has not seen.
func (t Tally) WebhooksUndelivered() int { return max(t.WebhooksExpected-t.WebhooksUnique, 0) }

// TallyNow counts what the cluster's database and the receiver show.
func TallyNow(ctx context.Context, db *sql.DB, ids []string, recv *Receiver) (Tally, error) {
	t := Tally{Submitted: len(ids)}
	rows, err := db.QueryContext(ctx, `SELECT id, (status IN ('COMPLETED', 'FAILED') AND outcome IS NOT NULL) FROM verifications`)
	if err != nil {
		return t, err
	}
	final := map[string]bool{}
	for rows.Next() {
		var id string
		var done bool
		if err := rows.Scan(&id, &done); err != nil {
			rows.Close()
			return t, err
		}
		final[id] = done
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return t, err
	}
	acked := map[string]bool{}
	for _, id := range ids {
		acked[id] = true
		if final[id] {
			t.Completed++
		} else {
			t.Lost++
		}
	}
	for id, done := range final {
		if !acked[id] && !done {
			t.Lost++
		}
	}
	events := WebhookEvents()
	q := func(dst *int, query string, args ...any) {
		if err == nil {
			err = db.QueryRowContext(ctx, query, args...).Scan(dst)
		}
	}
	q(&t.UsageRows, `SELECT COUNT(*) FROM usage_events`)
	q(&t.BillableChecks, `SELECT COUNT(*) FROM checks WHERE status = 'COMPLETED' AND outcome IN ('CLEAR', 'CONSIDER', 'ALERT')
		AND type IN ('DOCUMENT_REGISTRY', 'IMMIGRATION_STATUS', 'BORDER_MOVEMENTS', 'WATCHLIST')`)
	q(&t.MissingUsageRows, `SELECT COUNT(*) FROM checks c WHERE c.status = 'COMPLETED' AND c.outcome IN ('CLEAR', 'CONSIDER', 'ALERT')
		AND c.type IN ('DOCUMENT_REGISTRY', 'IMMIGRATION_STATUS', 'BORDER_MOVEMENTS', 'WATCHLIST')
		AND NOT EXISTS (SELECT 1 FROM usage_events u WHERE u.check_id = c.id)`)
	q(&t.FailedChecks, `SELECT COUNT(*) FROM checks WHERE status = 'FAILED'`)
	q(&t.WebhooksExpected, `SELECT COUNT(*) FROM outbox_events WHERE type IN ($1, $2)`, events[0], events[1])
	q(&t.DuplicateEvents, `SELECT COUNT(*) - COUNT(DISTINCT type || '/' || subject_id) FROM outbox_events WHERE type IN ($1, $2)`, events[0], events[1])
	q(&t.MissingEvents, `SELECT COUNT(*) FROM verifications v WHERE v.status IN ('COMPLETED', 'FAILED') AND v.outcome IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.subject_id = v.id AND e.type IN ($1, $2))`, events[0], events[1])
	q(&t.UnsyncedUsage, `SELECT COUNT(*) FROM usage_events WHERE synced_at IS NULL`)
	q(&t.UnpricedUsage, `SELECT COUNT(*) FROM usage_events WHERE priced_at IS NULL`)
	q(&t.RollupUnitsOff, `SELECT ABS((SELECT COALESCE(SUM(quantity), 0) FROM usage_monthly)
		- (SELECT COALESCE(SUM(quantity), 0) FROM usage_events WHERE priced_at IS NOT NULL))`)
	if err != nil {
		return t, err
	}
	if t.DuplicateUsageRows, err = UsageAnomalies(ctx, db); err != nil {
		return t, err
	}
	if recv != nil {
		s := recv.Stats()
		t.WebhooksUnique, t.WebhooksDuplicates, t.WebhooksRejected, t.WebhooksSplit = s.Unique, s.Duplicates, s.Rejected, s.SplitSubjects
	}
	return t, nil
}

// settled reports whether nothing is left to happen: every verification
// has its outcome, every expected message arrived and, when sync is
// watched, Stripe accepted every usage row.
func (t Tally) settled(watchSync bool) bool {
	return t.Lost == 0 && t.Completed == t.Submitted && t.MissingEvents == 0 && t.WebhooksUndelivered() == 0 &&
		t.UnpricedUsage == 0 && (!watchSync || t.UnsyncedUsage == 0)
}

// WaitSettled polls the tally until it is settled or timeout passes, and
// returns the last tally and when it settled (zero if it did not). Errors
// while polling (a database restarting) are retried.
func WaitSettled(ctx context.Context, db *sql.DB, ids []string, recv *Receiver, watchSync bool, timeout time.Duration, bar *Progress) (Tally, time.Time) {
	deadline := time.Now().Add(timeout)
	var last Tally
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t, err := TallyNow(qctx, db, ids, recv)
		cancel()
		if err == nil {
			last = t
			if bar != nil {
				bar.Set(t.Completed)
			}
			if t.settled(watchSync) {
				return t, time.Now()
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last, time.Time{}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ClusterRunConfig configures RunCluster.
type ClusterRunConfig struct {
	Cluster       ClusterConfig
	Verifications int
	Concurrency   int
	// Timeout bounds the wait for outcomes and webhooks after the last
	// submission.
	Timeout time.Duration
	// KillAt and RedisAt are the shares of acknowledged submissions at
	// which one worker is killed (SIGKILL, restarted after KillFor) and
	// Redis is restarted (SHUTDOWN, then started again on the same port
	// and append-only file). Negative: not done.
	KillAt, RedisAt float64
	KillFor         time.Duration
}

func (c *ClusterRunConfig) defaults() {
	if c.Verifications <= 0 {
		c.Verifications = 1000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Minute
	}
	if c.KillAt == 0 {
		c.KillAt = 0.3
	}
	if c.RedisAt == 0 {
		c.RedisAt = 0.6
	}
	if c.KillFor <= 0 {
		c.KillFor = 3 * time.Second
	}
	c.Cluster.People = c.Verifications
	if c.Cluster.WorkerConcurrency <= 0 {
		c.Cluster.WorkerConcurrency = c.Concurrency
	}
}

// ClusterLine is the JSON line of the cluster harness.
type ClusterLine struct {
	Verifications          int     `json:"verifications"`
	Completed              int     `json:"completed"`
	Lost                   int     `json:"lost"`
	UsageRows              int     `json:"usage_rows"`
	BillableChecks         int     `json:"billable_checks"`
	DuplicateUsageRows     int     `json:"duplicate_usage_rows"`
	UnpricedUsageRows      int     `json:"unpriced_usage_rows"`
	RollupUnitsOff         int     `json:"rollup_units_off"`
	WebhooksExpected       int     `json:"webhooks_expected"`
	WebhooksReceivedUnique int     `json:"webhooks_received_unique"`
	WebhooksDuplicates     int     `json:"webhooks_duplicates"`
	DurationS              float64 `json:"duration_s"`
}

// ClusterRun is what RunCluster measured.
type ClusterRun struct {
	Tally    Tally
	Submit   SubmitResult
	Duration time.Duration
	// Settled is false when the timeout passed first.
	Settled bool
	// Events lists the faults applied, in order, with their times from
	// the first submission.
	Events []string
}

// Line is the JSON line.
func (r ClusterRun) Line() ClusterLine {
	t := r.Tally
	return ClusterLine{
		Verifications: t.Submitted, Completed: t.Completed, Lost: t.Lost, UsageRows: t.UsageRows,
		BillableChecks: t.BillableChecks, DuplicateUsageRows: t.DuplicateUsageRows + t.MissingUsageRows,
		UnpricedUsageRows: t.UnpricedUsage, RollupUnitsOff: t.RollupUnitsOff,
		WebhooksExpected: t.WebhooksExpected, WebhooksReceivedUnique: t.WebhooksUnique, WebhooksDuplicates: t.WebhooksDuplicates,
		DurationS: Round(r.Duration.Seconds(), 2),
	}
}

// RunCluster starts a cluster, registers the receiver, submits every
// person alternating between the api processes while one worker is killed
// and restarted and Redis is restarted, waits for the outcomes and the
// webhooks, and tallies.
func RunCluster(ctx context.Context, cfg ClusterRunConfig, progress io.Writer) (ClusterRun, error) {
	cfg.defaults()
	cfg.Cluster.Log = progress
	c, err := StartCluster(ctx, cfg.Cluster)
	if err != nil {
		return ClusterRun{}, err
	}
	defer c.Close()
	env, err := newRunEnv(ctx, c, cfg.Concurrency)
	if err != nil {
		return ClusterRun{}, err
	}
	defer env.close()
	w := c.Workers[0]
	steps := []step{
		{At: cfg.KillAt, Name: "SIGKILL " + w.Name, Do: func(context.Context) error { return w.Kill() }},
		{At: cfg.KillAt, Name: "restart " + w.Name, Wait: cfg.KillFor, Do: func(ctx context.Context) error { return c.Restart(ctx, w) }},
		{At: cfg.RedisAt, Name: "redis SHUTDOWN", Do: c.Redis.Shutdown},
		{At: cfg.RedisAt, Name: "redis start", Do: c.Redis.Start},
	}
	steps = slices.DeleteFunc(steps, func(s step) bool { return s.At < 0 })
	res := env.run(ctx, runSpec{People: c.People, Submit: SubmitConfig{Concurrency: cfg.Concurrency, RetryFor: time.Minute},
		Steps: steps, Timeout: cfg.Timeout, Progress: progress})
	return ClusterRun{Tally: res.Tally, Submit: res.Submit, Duration: res.Duration, Settled: !res.SettledAt.IsZero(), Events: res.Events}, res.Err
}

// runEnv is a cluster with its receiver and clients, ready for a run.
type runEnv struct {
	c       *Cluster
	recv    *Receiver
	clients []*Client
}

func newRunEnv(ctx context.Context, c *Cluster, conns int) (*runEnv, error) {
	e := &runEnv{c: c, recv: NewReceiver()}
	if err := e.recv.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	var err error
	if e.clients, err = c.Clients(conns); err != nil {
		e.close()
		return nil, err
	}
	secret, err := CreateWebhookEndpoint(ctx, e.clients[0], e.recv.URL())
	if err != nil {
		e.close()
		return nil, fmt.Errorf("register the webhook endpoint: %w", err)
	}
	e.recv.SetSecret(secret)
	return e, nil
}

func (e *runEnv) close() {
	for _, cl := range e.clients {
		cl.Close()
	}
	_ = e.recv.Stop()
}

// step is one action of a fault schedule. Steps run one after another in
// their own goroutine, while submissions go on: each waits until the share
// At of the people have been acknowledged, then Wait more, then runs.
type step struct {
	At   float64
	Wait time.Duration
	Name string
	Do   func(context.Context) error
}

// runSpec is one run against a cluster.
type runSpec struct {
	People []Person
	Submit SubmitConfig
	Steps  []step
	// Timeout bounds the wait, after the last submission and the last
	// step, for everything to settle.
	Timeout   time.Duration
	WatchSync bool
	// During runs, alongside the steps, until the run ends (nil: nothing).
	During   func(ctx context.Context)
	Progress io.Writer
}

// runResult is what one run measured.
type runResult struct {
	Tally  Tally
	Submit SubmitResult
	// Duration runs from the first submission until settled (or until the
	// timeout).
	Duration time.Duration
	// ClearedAt is when the faults were over: the later of the last step
	// and the last submission. SettledAt is zero when the run did not
	// settle in time.
	ClearedAt, SettledAt time.Time
	Events               []string
	Err                  error
}

func (e *runEnv) run(ctx context.Context, s runSpec) runResult {
	n := len(s.People)
	var mu sync.Mutex
	acked := 0
	cond := sync.NewCond(&mu)
	s.Submit.OnAck = func(k int) {
		mu.Lock()
		acked = k
		mu.Unlock()
		cond.Broadcast()
	}
	var res runResult
	start := time.Now()
	stepsDone := make(chan error, 1)
	subDone := make(chan struct{})
	runCtx, stopDuring := context.WithCancel(ctx)
	defer stopDuring()
	if s.During != nil {
		go s.During(runCtx)
	}
	go func() {
		var errs []error
		for _, st := range s.Steps {
			need := int(st.At * float64(n))
			mu.Lock()
			for acked < need {
				select {
				case <-subDone:
					need = 0 // submissions ended short: apply the rest now
					continue
				default:
				}
				cond.Wait()
			}
			mu.Unlock()
			if st.Wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(st.Wait):
				}
			}
			if ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("%s: %w", st.Name, ctx.Err()))
				break
			}
			t := time.Since(start)
			err := st.Do(ctx)
			line := fmt.Sprintf("%.1fs %s", t.Seconds(), st.Name)
			if err != nil {
				line += ": " + err.Error()
				errs = append(errs, fmt.Errorf("%s: %w", st.Name, err))
			}
			mu.Lock()
			res.Events = append(res.Events, line)
			mu.Unlock()
			if e.c.cfg.Log != nil {
				fmt.Fprintf(e.c.cfg.Log, "\n  fault: %s\n", line)
			}
		}
		stepsDone <- errors.Join(errs...)
	}()
	bar := NewProgress(s.Progress, "submit", n)
	onAck := s.Submit.OnAck
	s.Submit.OnAck = func(k int) { onAck(k); bar.Set(k) }
	res.Submit = SubmitAll(ctx, e.clients, s.People, s.Submit)
	bar.Done()
	close(subDone)
	cond.Broadcast()
	if len(res.Submit.Refused) > 0 && s.Progress != nil {
		fmt.Fprintf(s.Progress, "  never acknowledged, by last code: %v (%d retries)\n", res.Submit.Refused, res.Submit.Retries)
	}
	// Wake the step goroutine while it waits for shares never reached.
	stopWake := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopWake:
				return
			case <-time.After(50 * time.Millisecond):
				cond.Broadcast()
			}
		}
	}()
	res.Err = <-stepsDone
	close(stopWake)
	res.ClearedAt = time.Now()
	bar = NewProgress(s.Progress, "settle", len(res.Submit.IDs))
	res.Tally, res.SettledAt = WaitSettled(ctx, e.c.DB, res.Submit.IDs, e.recv, s.WatchSync, s.Timeout, bar)
	bar.Done()
	end := res.SettledAt
	if end.IsZero() {
		end = time.Now()
	}
	res.Duration = end.Sub(start)
	return res
}
