package token

import (
	"math/big"
	"testing"
)

// Vectors from apache/cassandra-gocql-driver internal/murmur/murmur_test.go,
// which match Cassandra's Murmur3Partitioner; they exercise tails with bytes
// ≥ 0x80 (the sign-extension quirk) and a composite key.
func TestMurmur3Vectors(t *testing.T) {
	prefix2 := "prefix\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\xc8\xc9"
	cases := []struct {
		key  string
		want int64
	}{
		{"prefix\x00", -5156414768376541762},
		{"prefix\x00\x01", 3700033067394128583},
		{"prefix\x00\x01\x02", -3973852022020331202},
		{"prefix\x00\x01\x02\x03\x04\x05\x06\x07", -9199676315897541990},
		{"prefix\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f", -2684252762052835206},
		{"prefix\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\xc8", -278181328349571586},
		{prefix2, -5319761130493488577},
		{prefix2 + "\xca", -4593148434938707926},
		{prefix2 + "\xca\xcb", -575713103357290760},
		{prefix2 + "\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1", 5150183507841894143},
		{prefix2 + "\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2", 5645797256444299552},
		{prefix2 + "\xca\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7", 2294903531026336836},
		{"\x00\x10C'R\x9f\xb6E\xdd\x00\xb8\x83\xec9\xaeD\x8b\xb8\x00\x00\x04\x00\x06jk\x00", -9223371632693506265},
		// The legacy fixtures' keys, as computed by shared/tools/sstverify.
		{"0", 3083240331115144064},
		{"4", -663977588974966463},
		{"\x00\x00\x00d", 2008715943680221220},
		{"", MinMurmur3},
	}
	for _, c := range cases {
		if got := Murmur3Token([]byte(c.key)); got != c.want {
			t.Errorf("Murmur3Token(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

func TestRandomPartitioner(t *testing.T) {
	p := RandomPartitioner{}
	// md5("") is irrelevant: the empty key is the minimum token.
	if !p.Token(nil).Equal(p.MinToken()) {
		t.Fatal("empty key is not the minimum token")
	}
	// md5("a") = 0cc175b9c0f1b6a831c399e269772661: positive.
	want, _ := new(big.Int).SetString("0cc175b9c0f1b6a831c399e269772661", 16)
	if got := p.Token([]byte("a")).Big(); got.Cmp(want) != 0 {
		t.Fatalf("token(a) = %s, want %s", got, want)
	}
	// md5("b") = 92eb5ffee6ae2fec3ad71c777531578f: negative, so negated.
	neg, _ := new(big.Int).SetString("92eb5ffee6ae2fec3ad71c777531578f", 16)
	neg.Sub(neg, new(big.Int).Lsh(big.NewInt(1), 128))
	neg.Abs(neg)
	if got := p.Token([]byte("b")).Big(); got.Cmp(neg) != 0 {
		t.Fatalf("token(b) = %s, want %s", got, neg)
	}
	tok, err := p.ParseToken(neg.String())
	if err != nil || !tok.Equal(p.Token([]byte("b"))) {
		t.Fatalf("ParseToken round trip: %v %v", tok, err)
	}
	if Compare(p.MinToken(), p.Token([]byte("a"))) >= 0 {
		t.Fatal("minimum token does not sort first")
	}
}

func TestCompareAndRanges(t *testing.T) {
	m := func(v int64) Token { return Murmur3Of(v) }
	cases := []struct {
		r    Range
		t    int64
		want bool
	}{
		{Range{m(0), m(10)}, 0, false},
		{Range{m(0), m(10)}, 10, true},
		{Range{m(0), m(10)}, 5, true},
		{Range{m(10), m(0)}, 11, true}, // wraps
		{Range{m(10), m(0)}, -5, true},
		{Range{m(10), m(0)}, 5, false},
		{Range{m(MinMurmur3), m(MinMurmur3)}, 5, true}, // full ring
		{Range{m(10), m(MinMurmur3)}, MaxMurmur3, true},
		{Range{m(10), m(MinMurmur3)}, 10, false},
	}
	for _, c := range cases {
		if got := c.r.Contains(m(c.t)); got != c.want {
			t.Errorf("%v contains %d = %v, want %v", c.r, c.t, got, c.want)
		}
	}
	parts := Range{m(10), m(0)}.Unwrap(Murmur3Partitioner{})
	if len(parts) != 2 || parts[0].IsWrapAround() || parts[1].IsWrapAround() {
		t.Fatalf("unwrap = %v", parts)
	}
	if CompareKeys(BytesOf([]byte("a")), []byte("a"), BytesOf([]byte("b")), []byte("b")) >= 0 {
		t.Fatal("byte order")
	}
	for _, class := range []string{Murmur3Class, "RandomPartitioner", ByteOrderedClass} {
		if _, err := ForClass(class); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ForClass("org.apache.cassandra.dht.OrderPreservingPartitioner"); err == nil {
		t.Fatal("unknown partitioner accepted")
	}
}
