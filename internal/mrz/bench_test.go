package mrz

import "testing"

func BenchmarkParseTD3(b *testing.B) {
	lines := []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	opt := WithNow(testNow)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(lines, opt)
		if err != nil || !d.Valid() {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeTD3(b *testing.B) {
	d, err := Parse([]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}, WithNow(testNow))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(*d); err != nil {
			b.Fatal(err)
		}
	}
}
