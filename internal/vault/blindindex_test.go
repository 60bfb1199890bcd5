package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/borderproof/borderproof/internal/errs"
)

func TestNormaliseDocumentNumber(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"AB1234567", "AB1234567"},
		{"ab 123-456 7", "AB1234567"},
		{"AB1234567<<", "AB1234567"},
		{" L898902C3 ", "L898902C3"},
		{"x.y/z_1", "XYZ1"},
		{"Ñ-é 12", "NE12"},
		{"---", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := NormaliseDocumentNumber(tc.in); got != tc.want {
			t.Errorf("NormaliseDocumentNumber(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDocumentKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ state, number, want string }{
		{"GBR", "123 456 789", "GBR:123456789"},
		{"gbr ", "123-456-789", "GBR:123456789"},
		{"D", "C01X00T47", "D:C01X00T47"},
		{"", "123", ""},
		{"GBR", "<<<", ""},
	}
	for _, tc := range tests {
		if got := DocumentKey(tc.state, tc.number); got != tc.want {
			t.Errorf("DocumentKey(%q, %q) = %q, want %q", tc.state, tc.number, got, tc.want)
		}
	}
}

func TestNormalisePersonKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, dob, want string }{
		{"Zoë  O'Brien-Núñez", "1980-01-15", "BRIEN NUNEZ O ZOE|19800115"},
		{"NUNEZ, zoe o brien", "19800115", "BRIEN NUNEZ O ZOE|19800115"},
		{"ERIKSSON<<ANNA<MARIA", "1974-08-12", "ANNA ERIKSSON MARIA|19740812"},
		{"Jürgen Groß", "1970-02-03", "GROSS JURGEN|19700203"},
		{"Søren Ærø", "1990-12-31", "AERO SOREN|19901231"},
		{"Łukasz Wałęsa", "1985-05-05", "LUKASZ WALESA|19850505"},
		{"Ayşe Öztürk", "1984-03-09", "AYSE OZTURK|19840309"},
		{"", "1980-01-15", ""},
		{"Anna", "", ""},
	}
	for _, tc := range tests {
		if got := NormalisePersonKey(tc.name, tc.dob); got != tc.want {
			t.Errorf("NormalisePersonKey(%q, %q) = %q, want %q", tc.name, tc.dob, got, tc.want)
		}
	}
}

func TestBlindIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	idx := func(v *Vault, insurer, kind, value string) string {
		t.Helper()
		s, err := v.BlindIndex(ctx, insurer, kind, value)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	doc := DocumentKey("GBR", "123 456 789")
	a1 := idx(f.v, "ins_A", IndexDocument, doc)
	if len(a1) != 64 {
		t.Fatalf("index %q is not 64 hex characters", a1)
	}
	if _, err := hex.DecodeString(a1); err != nil {
		t.Fatal(err)
	}
	// Deterministic within an insurer, also from another process, and for
	// every spelling that normalises the same.
	if a2 := idx(f.v, "ins_A", IndexDocument, DocumentKey("gbr", "123-456-789")); a2 != a1 {
		t.Fatal("same document, different index")
	}
	if a3 := idx(f.newVault(t, Config{}), "ins_A", IndexDocument, doc); a3 != a1 {
		t.Fatal("index differs across processes")
	}
	// Different across insurers, kinds and values.
	if b := idx(f.v, "ins_B", IndexDocument, doc); b == a1 {
		t.Fatal("two insurers share an index")
	}
	if p := idx(f.v, "ins_A", IndexPerson, doc); p == a1 {
		t.Fatal("two kinds share an index")
	}
	if o := idx(f.v, "ins_A", IndexDocument, DocumentKey("GBR", "123456788")); o == a1 {
		t.Fatal("two documents share an index")
	}
	// Not a plain hash of the value.
	plain := sha256.Sum256([]byte(doc))
	if a1 == hex.EncodeToString(plain[:]) {
		t.Fatal("index is an unkeyed hash")
	}

	for _, bad := range []struct{ insurer, kind, value string }{
		{"", IndexDocument, doc}, {"ins_A", "", doc}, {"ins_A", "Document", doc},
		{"ins_A", "doc ument", doc}, {"ins_A", IndexDocument, ""},
	} {
		if _, err := f.v.BlindIndex(ctx, bad.insurer, bad.kind, bad.value); errs.KindOf(err) != errs.Invalid {
			t.Errorf("BlindIndex(%q, %q, %q): %v", bad.insurer, bad.kind, bad.value, err)
		}
	}
}
