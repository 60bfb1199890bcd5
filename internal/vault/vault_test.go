package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
)

var secretName = []byte(`{"surname":"ÖZTÜRK","given":"AYŞE","dob":"1984-03-09","doc":"U12345678"}`)

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	w := mustSubjectKey(t, f.v, "ins_A", "ver_1")
	sealed := mustSeal(t, f.v, "ins_A", "ver_1", w, PurposePolicyholder, secretName)

	if sealed[0] != sealVersion {
		t.Fatalf("version byte = %d, want %d", sealed[0], sealVersion)
	}
	if bytes.Contains(sealed, []byte("ZTÜRK")) || bytes.Contains(sealed, []byte("U12345678")) {
		t.Fatal("sealed value contains plaintext")
	}
	if len(sealed) != 1+12+len(secretName)+16 {
		t.Fatalf("sealed length %d", len(sealed))
	}
	got, err := f.v.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secretName) {
		t.Fatalf("opened %q", got)
	}
	// Two seals of one value differ (random nonce).
	again := mustSeal(t, f.v, "ins_A", "ver_1", w, PurposePolicyholder, secretName)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals are identical")
	}
	// Another process (cold cache, same store and provider) opens it.
	other := f.newVault(t, Config{})
	got, err = other.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed)
	if err != nil || !bytes.Equal(got, secretName) {
		t.Fatalf("cold vault: %q, %v", got, err)
	}
	// Empty plaintext is fine.
	e := mustSeal(t, f.v, "ins_A", "ver_1", w, PurposeDocument, nil)
	if got, err := f.v.Open(ctx, "ins_A", "ver_1", w, PurposeDocument, e); err != nil || len(got) != 0 {
		t.Fatalf("empty: %q, %v", got, err)
	}
}

func TestAssociatedDataBinding(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	w1 := mustSubjectKey(t, f.v, "ins_A", "ver_1")
	w2 := mustSubjectKey(t, f.v, "ins_A", "ver_2")
	wB := mustSubjectKey(t, f.v, "ins_B", "ver_1")
	sealed := mustSeal(t, f.v, "ins_A", "ver_1", w1, PurposePolicyholder, secretName)

	tests := []struct {
		name              string
		insurer, subject  string
		wrapped           []byte
		purpose           string
		wantAuthenticFail bool
	}{
		{"same row", "ins_A", "ver_1", w1, PurposePolicyholder, false},
		{"other purpose", "ins_A", "ver_1", w1, PurposeDocument, true},
		{"other verification, its own key", "ins_A", "ver_2", w2, PurposePolicyholder, true},
		{"other verification id, moved key", "ins_A", "ver_2", w1, PurposePolicyholder, true},
		{"other insurer, its own key", "ins_B", "ver_1", wB, PurposePolicyholder, true},
		{"other insurer, moved key", "ins_B", "ver_1", w1, PurposePolicyholder, true},
		{"key of another verification", "ins_A", "ver_1", w2, PurposePolicyholder, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.v.Open(ctx, tc.insurer, tc.subject, tc.wrapped, tc.purpose, sealed)
			if !tc.wantAuthenticFail {
				if err != nil || !bytes.Equal(got, secretName) {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("opened a value outside its row")
			}
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("err = %v, want ErrAuthentication", err)
			}
			if got != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
}

func TestTamperingDetected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	w := mustSubjectKey(t, f.v, "ins_A", "ver_1")
	sealed := mustSeal(t, f.v, "ins_A", "ver_1", w, PurposePolicyholder, []byte("document U1234567"))

	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		_, err := f.v.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, bad)
		if err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
		want := ErrAuthentication
		if i == 0 {
			want = ErrFormat
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d: err = %v, want %v", i, err, want)
		}
	}
	for _, n := range []int{0, 1, 12, 28} {
		if _, err := f.v.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// A tampered wrapped subject key fails too, with a cold cache.
	cold := f.newVault(t, Config{})
	for _, i := range []int{1, 20, len(w) - 1} {
		bw := bytes.Clone(w)
		bw[i] ^= 0x80
		if _, err := cold.Open(ctx, "ins_A", "ver_1", bw, PurposePolicyholder, sealed); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("wrapped key byte %d: %v", i, err)
		}
	}
	// Messages are safe for a client and carry nothing of the data.
	_, err := f.v.Open(ctx, "ins_A", "ver_1", w, PurposeDocument, sealed)
	e, ok := errs.As(err)
	if !ok || e.Msg != "sealed data could not be opened" || strings.Contains(err.Error(), "U1234567") {
		t.Fatalf("error = %v", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	w := mustSubjectKey(t, f.v, "ins_A", "ver_1")
	cases := []struct {
		name string
		run  func() error
		kind errs.Kind
	}{
		{"no insurer", func() error { _, err := f.v.NewSubjectKey(ctx, "", "ver_1"); return err }, errs.Invalid},
		{"no subject", func() error { _, err := f.v.Seal(ctx, "ins_A", "", w, PurposeDocument, nil); return err }, errs.Invalid},
		{"no purpose", func() error { _, err := f.v.Seal(ctx, "ins_A", "ver_1", w, "", nil); return err }, errs.Invalid},
		{"erased key on seal", func() error { _, err := f.v.Seal(ctx, "ins_A", "ver_1", nil, PurposeDocument, nil); return err }, errs.FailedPrecondition},
		{"erased key on open", func() error {
			_, err := f.v.Open(ctx, "ins_A", "ver_1", []byte{}, PurposeDocument, []byte{1})
			return err
		}, errs.FailedPrecondition},
	}
	for _, tc := range cases {
		if err := tc.run(); errs.KindOf(err) != tc.kind {
			t.Errorf("%s: err = %v, want kind %v", tc.name, err, tc.kind)
		}
	}
}

// TestShred proves erasure: once the wrapped subject key is deleted, nothing
// that remains (the key store, the other rows, the provider, a fresh
// process) opens the verification's data, and the insurer's other
// verifications still open.
func TestShred(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()

	// The verification table as the service keeps it.
	type row struct {
		wrappedKey []byte
		sealed     map[string][]byte
	}
	rows := map[string]*row{}
	for _, id := range []string{"ver_1", "ver_2", "ver_3"} {
		w := mustSubjectKey(t, f.v, "ins_A", id)
		rows[id] = &row{wrappedKey: w, sealed: map[string][]byte{
			PurposePolicyholder: mustSeal(t, f.v, "ins_A", id, w, PurposePolicyholder, []byte("name of "+id)),
			PurposeDocument:     mustSeal(t, f.v, "ins_A", id, w, PurposeDocument, []byte("document of "+id)),
		}}
	}
	// Another insurer, to populate the key store further.
	mustSubjectKey(t, f.v, "ins_B", "ver_9")

	// Erase ver_2: delete its wrapped key, then forget it.
	erasedRow := rows["ver_2"]
	erasedRow.wrappedKey = nil
	f.v.Shred("ins_A", "ver_2")
	if _, ok := f.v.subjects.get(subjectCacheKey("ins_A", "ver_2"), nil); ok {
		t.Fatal("Shred left the subject key cached")
	}

	// Every byte string left anywhere, tried as the wrapped key.
	var candidates [][]byte
	for _, k := range f.store.All() {
		candidates = append(candidates, k, k[2+int(k[1]):]) // the record and the provider blob
	}
	for _, r := range rows {
		if r.wrappedKey != nil {
			candidates = append(candidates, r.wrappedKey)
		}
		for _, s := range r.sealed {
			candidates = append(candidates, s)
		}
	}
	// A subject key minted again for the same id is a different key.
	candidates = append(candidates, mustSubjectKey(t, f.v, "ins_A", "ver_2"))

	for _, v := range []*Vault{f.v, f.newVault(t, Config{})} {
		for purpose, sealed := range erasedRow.sealed {
			if _, err := v.Open(ctx, "ins_A", "ver_2", erasedRow.wrappedKey, purpose, sealed); !errors.Is(err, ErrErased) {
				t.Fatalf("open without key: %v, want ErrErased", err)
			}
			for i, c := range candidates {
				if got, err := v.Open(ctx, "ins_A", "ver_2", c, purpose, sealed); err == nil {
					t.Fatalf("candidate %d opened erased data: %q", i, got)
				}
			}
		}
		// The other verifications of the insurer still open.
		for _, id := range []string{"ver_1", "ver_3"} {
			got, err := v.Open(ctx, "ins_A", id, rows[id].wrappedKey, PurposeDocument, rows[id].sealed[PurposeDocument])
			if err != nil || string(got) != "document of "+id {
				t.Fatalf("%s after erasing ver_2: %q, %v", id, got, err)
			}
		}
	}
}

func TestInsurerKeyCreatedOnceAndCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	for i := range 5 {
		w := mustSubjectKey(t, f.v, "ins_A", fmt.Sprint("ver_", i))
		if _, err := f.v.Seal(ctx, "ins_A", fmt.Sprint("ver_", i), w, PurposeDocument, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if g, d := f.prov.generated.Load(), f.prov.decrypted.Load(); g != 1 || d != 0 {
		t.Fatalf("generated %d, decrypted %d; want 1, 0", g, d)
	}
	rec := f.store.All()["ins_A"]
	if rec[0] != insurerKeyVersion || string(rec[2:2+int(rec[1])]) != "local-file" {
		t.Fatalf("stored record header %x", rec[:min(len(rec), 16)])
	}
}

func TestProviderMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	mustSubjectKey(t, f.v, "ins_A", "ver_1")
	v, err := New(Config{}, renamed{f.prov.KeyProvider}, f.store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, err = v.NewSubjectKey(context.Background(), "ins_A", "ver_2")
	if !errors.Is(err, ErrProviderMismatch) || errs.KindOf(err) != errs.FailedPrecondition {
		t.Fatalf("err = %v", err)
	}
}

type renamed struct{ KeyProvider }

func (renamed) Name() string { return "another" }

// Two processes creating the first key of an insurer at once agree on one.
func TestInsurerKeyRace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	vaults := []*Vault{f.v, f.newVault(t, Config{}), f.newVault(t, Config{}), f.newVault(t, Config{})}
	wrapped := make([][]byte, len(vaults))
	var wg sync.WaitGroup
	for i, v := range vaults {
		wg.Go(func() {
			w, err := v.NewSubjectKey(context.Background(), "ins_R", "ver_1")
			if err != nil {
				t.Error(err)
			}
			wrapped[i] = w
		})
	}
	wg.Wait()
	// Every vault's subject key opens in a vault with a cold cache.
	cold := f.newVault(t, Config{})
	for i, w := range wrapped {
		s := mustSeal(t, vaults[i], "ins_R", "ver_1", w, PurposeDocument, []byte("v"))
		if _, err := cold.Open(context.Background(), "ins_R", "ver_1", w, PurposeDocument, s); err != nil {
			t.Fatalf("vault %d: %v", i, err)
		}
	}
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{CacheTTL: 100 * time.Millisecond})
	ctx := context.Background()
	mustSubjectKey(t, f.v, "ins_A", "ver_1")
	cold := f.newVault(t, Config{CacheTTL: 100 * time.Millisecond})
	open := func() {
		t.Helper()
		if _, err := cold.BlindIndex(ctx, "ins_A", IndexDocument, "GBR:1"); err != nil {
			t.Fatal(err)
		}
	}
	open()
	open()
	if n := f.prov.decrypted.Load(); n != 1 {
		t.Fatalf("decrypts while cached = %d, want 1", n)
	}
	// The entry held by a caller stays usable while the cache drops it.
	held, err := cold.insurerKey(ctx, "ins_A")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	open()
	if n := f.prov.decrypted.Load(); n != 2 {
		t.Fatalf("decrypts after the TTL = %d, want 2", n)
	}
	if held.secret == nil || held.aead == nil {
		t.Fatal("an entry in use was zeroed")
	}
	secret := held.secret
	held.release()
	if held.secret != nil || !allZero(secret) {
		t.Fatal("expired entry not zeroed after its last release")
	}
}

func TestCacheSizeBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsurerCacheSize: 2, SubjectCacheSize: 3})
	ctx := context.Background()
	var wrapped [][]byte
	for i := range 5 {
		wrapped = append(wrapped, mustSubjectKey(t, f.v, fmt.Sprint("ins_", i), "ver_1"))
	}
	if n := f.v.insurers.len(); n != 2 {
		t.Fatalf("insurer cache holds %d, bound 2", n)
	}
	if n := f.v.subjects.len(); n != 3 {
		t.Fatalf("subject cache holds %d, bound 3", n)
	}
	// The evicted oldest insurer key was zeroed and is unwrapped again.
	before := f.prov.decrypted.Load()
	if _, err := f.v.Seal(ctx, "ins_0", "ver_1", wrapped[0], PurposeDocument, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := f.prov.decrypted.Load() - before; n != 1 {
		t.Fatalf("decrypts for an evicted insurer = %d, want 1", n)
	}
	// The most recent is still cached.
	before = f.prov.decrypted.Load()
	if _, err := f.v.BlindIndex(ctx, "ins_0", IndexPerson, "A|1"); err != nil {
		t.Fatal(err)
	}
	if n := f.prov.decrypted.Load() - before; n != 0 {
		t.Fatalf("decrypts for a cached insurer = %d, want 0", n)
	}
}

func TestEvictionZeroesSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{InsurerCacheSize: 1})
	ctx := context.Background()
	mustSubjectKey(t, f.v, "ins_A", "ver_1")
	e, ok := f.v.insurers.get("ins_A", nil)
	if !ok {
		t.Fatal("not cached")
	}
	secret := e.secret
	e.release()
	if allZero(secret) {
		t.Fatal("secret is zero before eviction")
	}
	mustSubjectKey(t, f.v, "ins_B", "ver_1") // evicts ins_A
	if !allZero(secret) {
		t.Fatal("evicted secret not zeroed")
	}
	if !e.dead || e.acquire() {
		t.Fatal("evicted entry still usable")
	}
	// Close zeroes the rest.
	e, _ = f.v.insurers.get("ins_B", nil)
	secret = e.secret
	e.release()
	f.v.Close()
	if !allZero(secret) {
		t.Fatal("Close left a secret")
	}
	if _, err := f.v.BlindIndex(ctx, "ins_B", IndexPerson, "X|1"); err != nil {
		t.Fatalf("vault unusable after Close: %v", err)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestSingleFlightUnwrap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	w := mustSubjectKey(t, f.v, "ins_A", "ver_1")
	sealed := mustSeal(t, f.v, "ins_A", "ver_1", w, PurposeDocument, []byte("doc"))

	gate := make(chan struct{})
	prov := &countingProvider{KeyProvider: f.prov.KeyProvider, gate: gate}
	cold, err := New(Config{}, prov, f.store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			got, err := cold.Open(ctx, "ins_A", "ver_1", w, PurposeDocument, sealed)
			if err != nil || string(got) != "doc" {
				t.Errorf("got %q, %v", got, err)
			}
		})
	}
	// Wait for the first Decrypt to be in flight, give the others time to
	// queue behind it, then let it finish.
	for prov.decrypted.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	if d := prov.decrypted.Load(); d != 1 {
		t.Fatalf("%d concurrent opens made %d provider decrypts, want 1", n, d)
	}
}

func TestCancelledWaiterDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	mustSubjectKey(t, f.v, "ins_A", "ver_1")
	gate := make(chan struct{})
	prov := &countingProvider{KeyProvider: f.prov.KeyProvider, gate: gate}
	cold, err := New(Config{}, prov, f.store, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := cold.BlindIndex(ctx, "ins_A", IndexDocument, "GBR:1")
		first <- err
	}()
	for prov.decrypted.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := cold.BlindIndex(context.Background(), "ins_A", IndexDocument, "GBR:1")
		second <- err
	}()
	cancel()
	if err := <-first; errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(gate)
	if err := <-second; err != nil {
		t.Fatalf("second caller failed with the first one's cancellation: %v", err)
	}
}

// Concurrent use across insurers and subjects with tiny caches, so that
// entries are evicted while in use; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{InsurerCacheSize: 1, SubjectCacheSize: 2},
		{InsurerCacheSize: -1, SubjectCacheSize: -1},
		{},
	} {
		t.Run(fmt.Sprintf("%d/%d", cfg.InsurerCacheSize, cfg.SubjectCacheSize), func(t *testing.T) {
			f := newFixture(t, cfg)
			ctx := context.Background()
			const insurers, subjects = 3, 4
			wrapped := map[string][]byte{}
			for i := range insurers {
				for s := range subjects {
					wrapped[fmt.Sprint(i, "/", s)] = mustSubjectKey(t, f.v, fmt.Sprint("ins_", i), fmt.Sprint("ver_", s))
				}
			}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for n := range 40 {
						i, s := (g+n)%insurers, (g*n)%subjects
						ins, sub := fmt.Sprint("ins_", i), fmt.Sprint("ver_", s)
						w := wrapped[fmt.Sprint(i, "/", s)]
						plain := []byte(fmt.Sprint("value ", g, n))
						sealed, err := f.v.Seal(ctx, ins, sub, w, PurposePolicyholder, plain)
						if err != nil {
							t.Error(err)
							return
						}
						got, err := f.v.Open(ctx, ins, sub, w, PurposePolicyholder, sealed)
						if err != nil || !bytes.Equal(got, plain) {
							t.Errorf("open: %q, %v", got, err)
							return
						}
						if _, err := f.v.BlindIndex(ctx, ins, IndexPerson, "A|1"); err != nil {
							t.Error(err)
							return
						}
						if n%10 == 0 {
							f.v.Shred(ins, sub)
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

type failingStore struct{ err error }

func (s failingStore) InsurerKey(context.Context, string) ([]byte, error) { return nil, s.err }
func (s failingStore) PutInsurerKeyIfAbsent(context.Context, string, []byte) ([]byte, error) {
	return nil, s.err
}

func TestStoreErrorsClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		kind errs.Kind
	}{
		{errors.New("dial tcp: connection refused"), errs.Unavailable},
		{errs.E(errs.Forbidden, "no"), errs.Forbidden},
	} {
		v, err := New(Config{}, newLocalProvider(t), failingStore{tc.err}, discardLogger())
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.NewSubjectKey(context.Background(), "ins_A", "ver_1")
		if errs.KindOf(err) != tc.kind {
			t.Errorf("store error %v: got %v, want kind %v", tc.err, err, tc.kind)
		}
		if e, _ := errs.As(err); tc.kind == errs.Unavailable && strings.Contains(e.Msg, "refused") {
			t.Errorf("cause leaked into the message: %q", e.Msg)
		}
		v.Close()
	}
}
