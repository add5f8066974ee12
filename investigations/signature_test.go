package investigations

import (
	"math"
	"testing"
	"time"
)

func TestSign(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	us := func(d time.Duration) int64 { return t0.Add(d).UnixMicro() }
	cases := []struct {
		name string
		d    Discrepancy
		refs References
		want string
	}{
		{"one-sided, no provenance", Discrepancy{Side: OnlyInLegacy, Legacy: map[string]any{"id": 1}}, References{}, "only_in_legacy::"},
		{"changed, columns sorted and derived", Discrepancy{Side: Changed,
			Legacy: map[string]any{"id": 1, "b": 1, "a": "x", "c": 3.5},
			New:    map[string]any{"id": 1, "b": 2, "a": "y", "c": 3.5}}, References{}, "changed:a,b:"},
		{"explicit diffs win", Discrepancy{Side: Changed, Legacy: map[string]any{"x": 1}, New: map[string]any{"x": 2},
			Diffs: []ColumnDiff{{Column: "z", Legacy: 1, New: 2}}}, References{}, "changed:z:"},
		{"null->empty", Discrepancy{Side: Changed, Legacy: map[string]any{"note": nil}, New: map[string]any{"note": ""}}, References{}, "changed:note:null->empty"},
		{"empty list->null", Discrepancy{Side: Changed, Legacy: map[string]any{"tags": []any{}}, New: map[string]any{"tags": nil}}, References{}, "changed:tags:empty->null"},
		{"column missing on one side is NULL", Discrepancy{Side: Changed, Legacy: map[string]any{"note": ""}, New: map[string]any{}}, References{}, "changed:note:empty->null"},
		{"NULL vs a value is not null->empty", Discrepancy{Side: Changed, Legacy: map[string]any{"note": nil}, New: map[string]any{"note": "x"}}, References{}, "changed:note:"},
		{"ts-precision ms", Discrepancy{Side: Changed,
			Legacy: map[string]any{"ts": t0.Add(123456 * time.Microsecond)},
			New:    map[string]any{"ts": t0.Add(123 * time.Millisecond)}}, References{}, "changed:ts:ts-precision"},
		{"ts-precision s, strings", Discrepancy{Side: Changed,
			Legacy: map[string]any{"ts": "2026-11-24T10:00:00.5Z"},
			New:    map[string]any{"ts": "2026-11-24T10:00:00Z"}}, References{}, "changed:ts:ts-precision"},
		{"timestamps a second apart are a real change", Discrepancy{Side: Changed,
			Legacy: map[string]any{"ts": t0}, New: map[string]any{"ts": t0.Add(time.Second)}}, References{}, "changed:ts:"},
		{"numbers are never ts-precision", Discrepancy{Side: Changed,
			Legacy: map[string]any{"n": 1000}, New: map[string]any{"n": 1001}}, References{}, "changed:n:"},
		{"ttl expired at the new side's reference", Discrepancy{Side: OnlyInLegacy,
			Legacy: map[string]any{"id": 1, "_ttl_expires_at": t0.Add(time.Hour)}},
			References{Legacy: t0, New: t0.Add(2 * time.Hour)}, "only_in_legacy::ttl-expired-at-reference"},
		{"ttl alive at both references", Discrepancy{Side: OnlyInLegacy,
			Legacy: map[string]any{"id": 1, "_ttl_expires_at": t0.Add(3 * time.Hour)}},
			References{Legacy: t0, New: t0.Add(2 * time.Hour)}, "only_in_legacy::"},
		{"ttl from writetime+ttl and the row's snapshot time", Discrepancy{Side: OnlyInNew,
			New: map[string]any{"id": 1, "_writetime": us(-2 * time.Hour), "_ttl": 3600, "_snapshot_time": t0}},
			References{}, "only_in_new::ttl-expired-at-reference"},
		{"ttl expiry at exactly the reference counts", Discrepancy{Side: OnlyInNew,
			New: map[string]any{"id": 1, "_expires_at": t0.Unix()}}, References{Legacy: t0}, "only_in_new::ttl-expired-at-reference"},
		{"no reference known: no ttl tag", Discrepancy{Side: OnlyInNew,
			New: map[string]any{"id": 1, "_ttl_expires_at": t0}}, References{}, "only_in_new::"},
		{"newer write in new (changed)", Discrepancy{Side: Changed,
			Legacy: map[string]any{"v": 1, "_writetime": us(0)}, New: map[string]any{"v": 2, "_writetime": us(time.Minute)}},
			References{}, "changed:v:newer-write-in-new"},
		{"provenance columns are not signature columns", Discrepancy{Side: Changed,
			Legacy: map[string]any{"_writetime": us(time.Minute)}, New: map[string]any{"_writetime": us(0)}},
			References{}, "changed::newer-write-in-legacy"},
		{"newer write in new (only_in_new after legacy's snapshot)", Discrepancy{Side: OnlyInNew,
			New: map[string]any{"id": 9, "_writetime": t0.Add(time.Hour).Format(time.RFC3339Nano)}},
			References{Legacy: t0}, "only_in_new::newer-write-in-new"},
		{"older write in new is untagged", Discrepancy{Side: OnlyInNew,
			New: map[string]any{"id": 9, "_writetime": us(-time.Hour)}},
			References{Legacy: t0}, "only_in_new::"},
		{"newer write in legacy (only_in_legacy)", Discrepancy{Side: OnlyInLegacy,
			Legacy: map[string]any{"id": 9, "_last_modified": t0.Add(time.Hour).UnixMilli()}},
			References{New: t0}, "only_in_legacy::newer-write-in-legacy"},
		{"several tags sorted", Discrepancy{Side: Changed,
			Legacy: map[string]any{"note": nil, "ts": t0.Add(time.Microsecond), "_writetime": us(0)},
			New:    map[string]any{"note": "", "ts": t0, "_writetime": us(time.Second)}},
			References{}, "changed:note,ts:newer-write-in-new,null->empty,ts-precision"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sig, _ := Sign(c.d, c.refs)
			if got := sig.String(); got != c.want {
				t.Fatalf("signature %q, want %q", got, c.want)
			}
		})
	}
}

func TestDeriveDiffs(t *testing.T) {
	got := deriveDiffs(map[string]any{"a": 1, "b": []any{1, 2}, "c": math.NaN(), "d": int64(4), "n": math.NaN(), "z": -0.0},
		map[string]any{"a": 1, "b": []any{1, 2}, "c": 1.0, "e": "x", "d": int32(4), "n": math.NaN(), "z": 0.0})
	want := []ColumnDiff{{"c", math.NaN(), 1.0}, {"e", nil, "x"}}
	if len(got) != len(want) || got[0].Column != "c" || got[1].Column != "e" || got[1].New != "x" {
		t.Fatalf("diffs %+v, want columns c and e", got)
	}
}

func TestEpochMagnitudes(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC)
	for _, n := range []int64{t0.Unix(), t0.UnixMilli(), t0.UnixMicro()} {
		if got := epoch(n); !got.Equal(t0) {
			t.Errorf("epoch(%d) = %v, want %v", n, got, t0)
		}
	}
}

func TestTitle(t *testing.T) {
	sig := Signature{Side: Changed, Columns: []string{"a", "b"}, Tags: []string{"ts-precision"}}
	if got := sig.Title("orders"); got != "orders: changed a,b [ts-precision]" {
		t.Fatal(got)
	}
	if got := (Signature{Side: OnlyInNew}).Title("orders"); got != "orders: only_in_new" {
		t.Fatal(got)
	}
}

func TestEncodeJSONNonFinite(t *testing.T) {
	got, err := encodeJSON(new([]byte), map[string]any{"a": math.NaN(), "b": []any{math.Inf(-1)}, "c": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"NaN","b":["-Inf"],"c":1.5}`; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	if _, err := encodeJSON(new([]byte), map[string]any{"f": func() {}}); err == nil {
		t.Fatal("a func encoded")
	}
}

func TestParseSide(t *testing.T) {
	for in, want := range map[string]Side{"legacy": OnlyInLegacy, "new": OnlyInNew, "changed": Changed, "only_in_new": OnlyInNew, "LEGACY": OnlyInLegacy} {
		got, err := ParseSide(in)
		if err != nil || got != want {
			t.Errorf("ParseSide(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSide("left"); err == nil {
		t.Error("left accepted")
	}
}
