package vault

import (
	"context"
	"fmt"
	"testing"
)

var benchPlain = make([]byte, 300)

func benchFixture(b *testing.B, cfg Config) (*Vault, []byte, []byte) {
	f := newFixture(b, cfg)
	w := mustSubjectKey(b, f.v, "ins_A", "ver_1")
	sealed := mustSeal(b, f.v, "ins_A", "ver_1", w, PurposePolicyholder, benchPlain)
	return f.v, w, sealed
}

// Seal and Open of 300 bytes with the keys cached (the common case), and
// with the subject-key cache disabled (each call unwraps the subject key
// under the cached insurer key) for comparison.
func BenchmarkSeal(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"warm", Config{}}, {"subject-uncached", Config{SubjectCacheSize: -1}}} {
		b.Run(c.name, func(b *testing.B) {
			v, w, _ := benchFixture(b, c.cfg)
			ctx := context.Background()
			b.SetBytes(int64(len(benchPlain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Seal(ctx, "ins_A", "ver_1", w, PurposePolicyholder, benchPlain); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"warm", Config{}}, {"subject-uncached", Config{SubjectCacheSize: -1}}} {
		b.Run(c.name, func(b *testing.B) {
			v, w, sealed := benchFixture(b, c.cfg)
			ctx := context.Background()
			b.SetBytes(int64(len(benchPlain)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenParallel(b *testing.B) {
	v, w, sealed := benchFixture(b, Config{})
	ctx := context.Background()
	b.SetBytes(int64(len(benchPlain)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Open(ctx, "ins_A", "ver_1", w, PurposePolicyholder, sealed); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBlindIndex(b *testing.B) {
	f := newFixture(b, Config{})
	ctx := context.Background()
	value := NormalisePersonKey("Ayşe Öztürk", "1984-03-09")
	for i := range b.N {
		if _, err := f.v.BlindIndex(ctx, "ins_A", IndexPerson, fmt.Sprint(value, i%4)); err != nil {
			b.Fatal(err)
		}
	}
}
