package cql

import (
	"encoding/hex"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type mode uint8

const (
	modeString  mode = iota // AbstractType.getString: text bare, others as literals without quotes
	modeLiteral             // a CQL literal
	modeJSON                // a JSON value, as sstabledump prints cell values
)

// String renders a serialized value the way Cassandra's AbstractType.getString
// does, as sstabledump prints partition keys and clustering values: text as
// is, numbers in decimal, blobs in hex, timestamps in ISO 8601. Malformed
// bytes render as 0x-prefixed hex.
func String(t *Type, b []byte) string { return render(t, b, modeString) }

// Literal renders a serialized value as a CQL literal ('text', 0xcafe, [1, 2],
// {'k': 1}, (1, 'a'), null).
func Literal(t *Type, b []byte) string { return render(t, b, modeLiteral) }

// JSON renders a serialized value as a JSON value, as sstabledump prints cell
// values: text as a JSON string, numbers as JSON numbers, blobs as "0x…",
// collections as arrays and objects, counters as their total.
func JSON(t *Type, b []byte) string { return render(t, b, modeJSON) }

func render(t *Type, b []byte, m mode) string {
	v, err := Decode(t, b)
	if err != nil {
		s := "0x" + hex.EncodeToString(b)
		if m == modeJSON {
			return strconv.Quote(s)
		}
		return s
	}
	var sb strings.Builder
	formatValue(&sb, t, v, m, true)
	return sb.String()
}

// FormatValue renders a Go value of type t (as Decode returns) in CQL literal syntax.
func FormatValue(t *Type, v any) string {
	var sb strings.Builder
	formatValue(&sb, t, v, modeLiteral, true)
	return sb.String()
}

func quoteCQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// jsonString writes s as a JSON string without HTML escaping.
func jsonString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c < 0x20:
			sb.WriteString(`\u00`)
			sb.WriteByte("0123456789abcdef"[c>>4])
			sb.WriteByte("0123456789abcdef"[c&15])
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
}

// quoted writes s as a string in mode m: bare for getString at the top
// level, 'quoted' in CQL, "quoted" in JSON.
func quoted(sb *strings.Builder, s string, m mode, top bool) {
	switch {
	case m == modeJSON:
		jsonString(sb, s)
	case m == modeLiteral || !top:
		sb.WriteString(quoteCQL(s))
	default:
		sb.WriteString(s)
	}
}

// FormatTimestamp renders milliseconds as 2021-05-14T09:46:20.234Z.
func FormatTimestamp(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func formatFloat(sb *strings.Builder, f float64, bits int, m mode) {
	switch {
	case math.IsNaN(f):
		s := "NaN"
		if m == modeJSON {
			s = `"NaN"`
		}
		sb.WriteString(s)
		return
	case math.IsInf(f, 1), math.IsInf(f, -1):
		s := "Infinity"
		if f < 0 {
			s = "-Infinity"
		}
		if m == modeJSON {
			s = `"` + s + `"`
		}
		sb.WriteString(s)
		return
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	sb.WriteString(s)
}

func formatValue(sb *strings.Builder, t *Type, v any, m mode, top bool) {
	if v == nil {
		sb.WriteString("null")
		return
	}
	if _, ok := v.(EmptyValue); ok {
		if m == modeString && top {
			return
		}
		if m == modeJSON {
			sb.WriteString(`""`)
		} else {
			sb.WriteString("''")
		}
		return
	}
	switch x := v.(type) {
	case string:
		quoted(sb, x, m, top)
	case []byte:
		s := "0x" + hex.EncodeToString(x)
		if m == modeString && top {
			s = hex.EncodeToString(x)
		}
		if m == modeJSON {
			jsonString(sb, s)
		} else {
			sb.WriteString(s)
		}
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int16:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case int8:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case bool:
		sb.WriteString(strconv.FormatBool(x))
	case float32:
		formatFloat(sb, float64(x), 32, m)
	case float64:
		formatFloat(sb, x, 64, m)
	case *big.Int:
		sb.WriteString(x.String())
	case Decimal:
		sb.WriteString(x.String())
	case Timestamp:
		s := FormatTimestamp(int64(x))
		if m != modeString || !top {
			s = strings.Replace(s, "T", " ", 1)
		}
		quoted(sb, s, m, top)
	case Date:
		d := x.Time()
		s := strconv.FormatInt(x.Days(), 10)
		if d.Year() >= -9999 && d.Year() <= 9999 {
			s = d.Format("2006-01-02")
		}
		quoted(sb, s, m, top)
	case Time:
		ns := int64(x)
		s := time.Unix(0, ns).UTC().Format("15:04:05") + "." + strconv.FormatInt(ns%1e9+1e9, 10)[1:]
		quoted(sb, s, m, top)
	case Duration:
		s := formatDuration(x)
		if m == modeJSON {
			jsonString(sb, s)
		} else {
			sb.WriteString(s)
		}
	case UUID:
		if m == modeJSON {
			jsonString(sb, x.String())
		} else {
			sb.WriteString(x.String())
		}
	case netip.Addr:
		quoted(sb, x.String(), m, top)
	case []MapEntry:
		sb.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			if m == modeJSON {
				var kb strings.Builder
				formatValue(&kb, t.Elems[0], e.Key, modeJSON, false)
				k := kb.String()
				if !strings.HasPrefix(k, `"`) {
					k = strconv.Quote(k)
				}
				sb.WriteString(k)
			} else {
				formatValue(sb, t.Elems[0], e.Key, m, false)
			}
			sb.WriteString(": ")
			formatValue(sb, t.Elems[1], e.Value, m, false)
		}
		sb.WriteByte('}')
	case []any:
		open, close := "[", "]"
		switch {
		case m == modeJSON && t.Kind == KindUDT:
			open, close = "{", "}"
		case m == modeJSON:
		case t.Kind == KindSet || t.Kind == KindUDT:
			open, close = "{", "}"
		case t.Kind == KindTuple || t.Kind == KindComposite:
			open, close = "(", ")"
		}
		sb.WriteString(open)
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			et := t.Elems[min(i, len(t.Elems)-1)]
			if t.Kind == KindUDT {
				if m == modeJSON {
					jsonString(sb, t.Fields[i])
				} else {
					sb.WriteString(QuoteIdent(t.Fields[i]))
				}
				sb.WriteString(": ")
			}
			formatValue(sb, et, e, m, false)
		}
		sb.WriteString(close)
	default:
		sb.WriteString("?")
	}
}

func formatDuration(d Duration) string {
	var sb strings.Builder
	if d.Months < 0 || d.Days < 0 || d.Nanos < 0 {
		sb.WriteByte('-')
	}
	abs := func(v int64) uint64 {
		if v < 0 {
			return uint64(-v)
		}
		return uint64(v)
	}
	add := func(v, div uint64, unit string) uint64 {
		if v == 0 || v < div {
			return v
		}
		sb.WriteString(strconv.FormatUint(v/div, 10) + unit)
		return v % div
	}
	r := add(abs(int64(d.Months)), 12, "y")
	add(r, 1, "mo")
	add(abs(int64(d.Days)), 1, "d")
	if d.Nanos != 0 {
		r = add(abs(d.Nanos), 3600e9, "h")
		r = add(r, 60e9, "m")
		r = add(r, 1e9, "s")
		r = add(r, 1e6, "ms")
		r = add(r, 1e3, "us")
		add(r, 1, "ns")
	}
	if sb.Len() == 0 || sb.String() == "-" {
		return "0s"
	}
	return sb.String()
}
