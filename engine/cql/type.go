// Package cql is the CQL type system as SSTables store it: one Go model for
// Cassandra's marshal type strings (the ones in Statistics.db headers, e.g.
// "org.apache.cassandra.db.marshal.MapType(...)") and CQL type names
// ("frozen<map<text,int>>"), the byte encodings of every CQL type, their
// comparison order, and their rendering as CQL literals and JSON.
//
// Go values (Decode and Encode):
//
//	ascii, text          string
//	bigint, counter      int64
//	blob                 []byte
//	boolean              bool
//	date                 Date (uint32, epoch at 2^31)
//	decimal              Decimal{Unscaled *big.Int, Scale int32}
//	double / float       float64 / float32
//	duration             Duration{Months, Days int32; Nanos int64}
//	inet                 netip.Addr
//	int/smallint/tinyint int32 / int16 / int8
//	time                 Time (int64 nanoseconds since midnight)
//	timestamp            Timestamp (int64 milliseconds since the Unix epoch)
//	uuid, timeuuid       UUID ([16]byte)
//	varint               *big.Int
//	list, set, vector    []any
//	map                  []MapEntry (in stored order)
//	tuple, UDT           []any (one value per component or field; nil = null)
//	null                 nil
//
// Arrow mapping (used by the connector; documented here because the type
// model lives here): ascii/text → utf8; bigint/counter → int64; blob → binary;
// boolean → bool; date → date32 (days since epoch = uint32 - 2^31); decimal →
// decimal128(38, scale) when the scale is fixed per column, otherwise utf8;
// double → float64; float → float32; duration → month_day_nano_interval;
// inet → utf8; int → int32; smallint → int16; tinyint → int8; time → time64[ns];
// timestamp → timestamp[ms, UTC]; uuid/timeuuid → fixed_size_binary(16);
// varint → decimal128(38, 0) or utf8 when wider; list/set/vector → list;
// map → map; tuple → struct (fields "0", "1", …); UDT → struct by field name.
package cql

import (
	"errors"
	"strconv"
	"strings"
)

// ErrBadType means a type string could not be parsed or names an unsupported type.
var ErrBadType = errors.New("bad CQL type")

// ErrBadValue means value bytes do not match their type.
var ErrBadValue = errors.New("bad CQL value")

// Kind is the kind of a Type.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindAscii
	KindBigint
	KindBlob
	KindBoolean
	KindCounter
	KindDate
	KindDecimal
	KindDouble
	KindDuration
	KindFloat
	KindInet
	KindInt
	KindSmallint
	KindText
	KindTime
	KindTimestamp
	KindTimeuuid
	KindTinyint
	KindUUID
	KindVarint
	KindEmpty       // EmptyType: always zero bytes (compact tables without values)
	KindLexicalUUID // LexicalUUIDType: 16 bytes, compared as signed longs
	KindList
	KindSet
	KindMap
	KindTuple
	KindUDT
	KindVector
	KindComposite // CompositeType: multi-column partition keys
)

type kindInfo struct {
	cql, class string
	fixed      int // valueLengthIfFixed, -1 = variable
}

var kinds = [...]kindInfo{
	KindAscii:       {"ascii", "AsciiType", -1},
	KindBigint:      {"bigint", "LongType", 8},
	KindBlob:        {"blob", "BytesType", -1},
	KindBoolean:     {"boolean", "BooleanType", 1},
	KindCounter:     {"counter", "CounterColumnType", -1},
	KindDate:        {"date", "SimpleDateType", -1},
	KindDecimal:     {"decimal", "DecimalType", -1},
	KindDouble:      {"double", "DoubleType", 8},
	KindDuration:    {"duration", "DurationType", -1},
	KindFloat:       {"float", "FloatType", 4},
	KindInet:        {"inet", "InetAddressType", -1},
	KindInt:         {"int", "Int32Type", 4},
	KindSmallint:    {"smallint", "ShortType", -1},
	KindText:        {"text", "UTF8Type", -1},
	KindTime:        {"time", "TimeType", -1},
	KindTimestamp:   {"timestamp", "TimestampType", 8},
	KindTimeuuid:    {"timeuuid", "TimeUUIDType", 16},
	KindTinyint:     {"tinyint", "ByteType", -1},
	KindUUID:        {"uuid", "UUIDType", 16},
	KindVarint:      {"varint", "IntegerType", -1},
	KindEmpty:       {"'org.apache.cassandra.db.marshal.EmptyType'", "EmptyType", 0},
	KindLexicalUUID: {"'org.apache.cassandra.db.marshal.LexicalUUIDType'", "LexicalUUIDType", 16},
	KindList:        {"list", "ListType", -1},
	KindSet:         {"set", "SetType", -1},
	KindMap:         {"map", "MapType", -1},
	KindTuple:       {"tuple", "TupleType", -1},
	KindUDT:         {"", "UserType", -1},
	KindVector:      {"vector", "VectorType", -1},
	KindComposite:   {"", "CompositeType", -1},
}

func (k Kind) String() string {
	if int(k) < len(kinds) && kinds[k].class != "" {
		if kinds[k].cql != "" {
			return kinds[k].cql
		}
		return kinds[k].class
	}
	return "invalid"
}

// Package is the Java package of Cassandra's marshal types.
const Package = "org.apache.cassandra.db.marshal."

// Type is a CQL type. Build one with the constructors or ParseMarshal/ParseCQL;
// treat it as immutable once built.
type Type struct {
	Kind Kind
	// Elems: list/set/vector: [element]; map: [key, value]; tuple, UDT and
	// composite: the components.
	Elems []*Type
	// UDT only.
	Keyspace, Name string
	Fields         []string
	// Frozen: list, set, map and UDT values are single cells. When false
	// the column is multi-cell (one cell per element or field).
	Frozen bool
	// Reversed: a DESC clustering column (ReversedType).
	Reversed bool
	// Dim is a vector's dimension.
	Dim int
	// Legacy keeps the class name of a type Cassandra maps onto a CQL type
	// with different comparison rules: "DateType" (timestamp compared as
	// unsigned bytes).
	Legacy string
}

// Simple returns the type of a non-parameterised kind.
func Simple(k Kind) *Type { return &Type{Kind: k} }

// ListOf, SetOf, MapOf build non-frozen (multi-cell) collections; call Freeze
// for frozen ones.
func ListOf(e *Type) *Type { return &Type{Kind: KindList, Elems: []*Type{e.frozenInner()}} }
func SetOf(e *Type) *Type  { return &Type{Kind: KindSet, Elems: []*Type{e.frozenInner()}} }
func MapOf(k, v *Type) *Type {
	return &Type{Kind: KindMap, Elems: []*Type{k.frozenInner(), v.frozenInner()}}
}
func TupleOf(es ...*Type) *Type {
	t := &Type{Kind: KindTuple, Frozen: true}
	for _, e := range es {
		t.Elems = append(t.Elems, e.frozenInner())
	}
	return t
}

// VectorOf builds vector<e, dim>.
func VectorOf(e *Type, dim int) *Type {
	return &Type{Kind: KindVector, Elems: []*Type{e.frozenInner()}, Dim: dim, Frozen: true}
}

// UDTOf builds a non-frozen user-defined type.
func UDTOf(keyspace, name string, fields []string, types []*Type) *Type {
	t := &Type{Kind: KindUDT, Keyspace: keyspace, Name: name, Fields: append([]string(nil), fields...)}
	for _, e := range types {
		t.Elems = append(t.Elems, e.frozenInner())
	}
	return t
}

// CompositeOf builds the CompositeType of a multi-column partition key.
func CompositeOf(es ...*Type) *Type { return &Type{Kind: KindComposite, Elems: es, Frozen: true} }

// Freeze returns a frozen copy of t (frozen<t>).
func (t *Type) Freeze() *Type { return t.frozenInner() }

// Reverse returns a copy of t marked ReversedType (DESC clustering order).
func (t *Type) Reverse() *Type {
	c := *t
	c.Reversed = true
	return &c
}

// frozenInner returns t frozen, recursively: everything nested in a
// collection, tuple or UDT is frozen.
func (t *Type) frozenInner() *Type {
	if t.Frozen || !t.isCollectionOrUDT() {
		return t
	}
	c := *t
	c.Frozen = true
	return &c
}

func (t *Type) isCollectionOrUDT() bool {
	return t.Kind == KindList || t.Kind == KindSet || t.Kind == KindMap || t.Kind == KindUDT
}

// MultiCell reports whether the type is a non-frozen collection or UDT,
// stored as one cell per element (a "complex" column).
func (t *Type) MultiCell() bool { return t.isCollectionOrUDT() && !t.Frozen }

// IsCollection reports list, set or map.
func (t *Type) IsCollection() bool {
	return t.Kind == KindList || t.Kind == KindSet || t.Kind == KindMap
}

// FixedLen is Cassandra's valueLengthIfFixed: the byte length of every value
// of the type, or -1 when values carry a length.
func (t *Type) FixedLen() int {
	if t.Kind == KindVector {
		if n := t.Elems[0].FixedLen(); n >= 0 {
			return n * t.Dim
		}
		return -1
	}
	if int(t.Kind) < len(kinds) {
		return kinds[t.Kind].fixed
	}
	return -1
}

// Equal reports whether two types are the same.
func (t *Type) Equal(o *Type) bool { return t.String() == o.String() }

// String returns the marshal type string Cassandra writes in Statistics.db.
func (t *Type) String() string {
	var sb strings.Builder
	t.marshal(&sb, false)
	return sb.String()
}

func (t *Type) marshal(sb *strings.Builder, ignoreFreezing bool) {
	if t.Reversed {
		sb.WriteString(Package + "ReversedType(")
		c := *t
		c.Reversed = false
		c.marshal(sb, ignoreFreezing)
		sb.WriteByte(')')
		return
	}
	class := kinds[t.Kind].class
	if t.Legacy != "" {
		class = t.Legacy
	}
	switch t.Kind {
	case KindList, KindSet, KindMap, KindUDT:
		wrap := !ignoreFreezing && t.Frozen
		if wrap {
			sb.WriteString(Package + "FrozenType(")
		}
		sb.WriteString(Package + class + "(")
		inner := ignoreFreezing || t.Frozen
		if t.Kind == KindUDT {
			sb.WriteString(t.Keyspace)
			sb.WriteByte(',')
			sb.WriteString(hexString(t.Name))
			for i, e := range t.Elems {
				sb.WriteByte(',')
				sb.WriteString(hexString(t.Fields[i]))
				sb.WriteByte(':')
				e.marshal(sb, inner)
			}
		} else {
			for i, e := range t.Elems {
				if i > 0 {
					sb.WriteByte(',')
				}
				e.marshal(sb, inner)
			}
		}
		sb.WriteByte(')')
		if wrap {
			sb.WriteByte(')')
		}
	case KindTuple, KindComposite:
		sb.WriteString(Package + class + "(")
		for i, e := range t.Elems {
			if i > 0 {
				sb.WriteByte(',')
			}
			e.marshal(sb, t.Kind == KindTuple || ignoreFreezing)
		}
		sb.WriteByte(')')
	case KindVector:
		sb.WriteString(Package + class + "(")
		t.Elems[0].marshal(sb, ignoreFreezing)
		sb.WriteString("," + strconv.Itoa(t.Dim) + ")")
	default:
		sb.WriteString(Package + class)
	}
}

// CQL returns the type in CQL syntax, e.g. frozen<map<text, int>>.
func (t *Type) CQL() string {
	var sb strings.Builder
	t.cql(&sb, false)
	return sb.String()
}

func (t *Type) cql(sb *strings.Builder, inFrozen bool) {
	wrap := t.Frozen && t.isCollectionOrUDT()
	if wrap {
		sb.WriteString("frozen<")
	}
	in := inFrozen || t.Frozen
	switch t.Kind {
	case KindList, KindSet, KindMap, KindTuple, KindVector:
		sb.WriteString(kinds[t.Kind].cql + "<")
		for i, e := range t.Elems {
			if i > 0 {
				sb.WriteString(", ")
			}
			e.cql(sb, in || t.Kind != KindTuple)
		}
		if t.Kind == KindVector {
			sb.WriteString(", " + strconv.Itoa(t.Dim))
		}
		sb.WriteByte('>')
	case KindUDT:
		sb.WriteString(QuoteIdent(t.Name))
	case KindComposite:
		sb.WriteString("'" + t.String() + "'")
	default:
		if t.Legacy != "" {
			sb.WriteString("'" + Package + t.Legacy + "'")
		} else {
			sb.WriteString(kinds[t.Kind].cql)
		}
	}
	if wrap {
		sb.WriteByte('>')
	}
}

// QuoteIdent quotes a CQL identifier when it is not a plain lower-case name.
func QuoteIdent(s string) string {
	plain := s != ""
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || (i > 0 && r >= '0' && r <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func hexString(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}
