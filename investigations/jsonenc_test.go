package investigations

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// oracleJSON is encoding/json without HTML escaping.
func oracleJSON(t testing.TB, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func randValue(r *rand.Rand, depth int) any {
	strs := []string{"", "a", "日本", "tab\there", "quote\"back\\slash", "ctl\x01\x1f\x7f", "bad\xff\xfeutf8", "\u2028\u2029", "<html>&amp;", "\b\f\n\r"}
	switch k := r.IntN(16); {
	case k == 0:
		return nil
	case k == 1:
		return strs[r.IntN(len(strs))]
	case k == 2:
		return r.IntN(2) == 0
	case k == 3:
		return r.Int64() - r.Int64()
	case k == 4:
		return uint64(r.Uint64())
	case k == 5:
		return int32(r.Int32())
	case k == 6:
		fs := []float64{0, math.Copysign(0, -1), 1.5, -2.25e-7, 1e21, 123456789012345678, 1e-6, 5e-324, math.MaxFloat64, r.NormFloat64() * 1e10}
		return fs[r.IntN(len(fs))]
	case k == 7:
		return float32(r.NormFloat64())
	case k == 8:
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("x", 3600*r.IntN(5)))
	case k == 9:
		b := make([]byte, r.IntN(10))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case k == 10:
		return json.Number("12.50")
	case k <= 13 && depth < 3:
		m := map[string]any{}
		for range r.IntN(5) {
			m[strs[r.IntN(len(strs))]+string(rune('a'+r.IntN(26)))] = randValue(r, depth+1)
		}
		return m
	case depth < 3:
		s := make([]any, r.IntN(4))
		for i := range s {
			s[i] = randValue(r, depth+1)
		}
		return s
	}
	return "leaf"
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		v := randValue(r, 0)
		got, err := appendJSON(nil, v)
		if err != nil {
			t.Fatalf("value %d %#v: %v", i, v, err)
		}
		if want := oracleJSON(t, v); !bytes.Equal(got, want) {
			t.Fatalf("value %d %#v:\n got %s\nwant %s", i, v, got, want)
		}
	}
	// Types it does not know go through encoding/json.
	type odd struct{ A int }
	got, err := appendJSON(nil, map[string]any{"s": odd{1}, "d": []ColumnDiff{{"c", 1, nil}}})
	if err != nil || string(got) != `{"d":[{"column":"c","legacy":1,"new":null}],"s":{"A":1}}` {
		t.Fatalf("%s %v", got, err)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b", "\x00", "\xff", "\u2028", "é", "\\u0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		if want := oracleJSON(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
	})
}
