package diff

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/extensions"
)

// Kind is the kind of a column for the schema-mismatch rule of contracts §2:
// widths and units of one kind are compatible, different kinds are not.
type Kind uint8

// The kinds of contracts §2.
const (
	KindInteger Kind = iota + 1
	KindFloat
	KindDecimal
	KindString
	KindBinary
	KindBool
	KindDate
	KindTime
	KindTimestamp
	KindUUID
	KindList
	KindMap
	KindStruct
)

var kindNames = [...]string{"", "integer", "float", "decimal", "string", "binary", "bool", "date", "time", "timestamp", "uuid", "list", "map", "struct"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ctype is the canonical type of a value: its kind and, for nested kinds,
// the canonical types of its children. Struct fields are sorted by name.
type ctype struct {
	kind   Kind
	elem   *ctype   // list
	key    *ctype   // map
	value  *ctype   // map
	fields []cfield // struct, by name
}

type cfield struct {
	name string
	typ  *ctype
}

func (t *ctype) String() string {
	switch t.kind {
	case KindList:
		return "list<" + t.elem.String() + ">"
	case KindMap:
		return "map<" + t.key.String() + "," + t.value.String() + ">"
	case KindStruct:
		var b strings.Builder
		b.WriteString("struct<")
		for i, f := range t.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.name + ":" + f.typ.String())
		}
		b.WriteByte('>')
		return b.String()
	}
	return t.kind.String()
}

// equal reports whether two canonical types have the same shape, so that
// values of the two can be compared.
func (t *ctype) equal(o *ctype) bool {
	if t.kind != o.kind {
		return false
	}
	switch t.kind {
	case KindList:
		return t.elem.equal(o.elem)
	case KindMap:
		return t.key.equal(o.key) && t.value.equal(o.value)
	case KindStruct:
		if len(t.fields) != len(o.fields) {
			return false
		}
		for i := range t.fields {
			if t.fields[i].name != o.fields[i].name || !t.fields[i].typ.equal(o.fields[i].typ) {
				return false
			}
		}
	}
	return true
}

// ErrUnsupportedType marks a column whose Arrow type has no kind.
var ErrUnsupportedType = errors.New("unsupported column type")

// canonicalType maps an Arrow type to its canonical type.
func canonicalType(dt arrow.DataType) (*ctype, error) {
	switch t := dt.(type) {
	case *extensions.UUIDType:
		return &ctype{kind: KindUUID}, nil
	case arrow.ExtensionType:
		return canonicalType(t.StorageType())
	case *arrow.DictionaryType:
		return canonicalType(t.ValueType)
	}
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return &ctype{kind: KindInteger}, nil
	case arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return &ctype{kind: KindFloat}, nil
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		return &ctype{kind: KindDecimal}, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return &ctype{kind: KindString}, nil
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return &ctype{kind: KindBinary}, nil
	case arrow.BOOL:
		return &ctype{kind: KindBool}, nil
	case arrow.DATE32, arrow.DATE64:
		return &ctype{kind: KindDate}, nil
	case arrow.TIME32, arrow.TIME64:
		return &ctype{kind: KindTime}, nil
	case arrow.TIMESTAMP:
		return &ctype{kind: KindTimestamp}, nil
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		elem, err := canonicalType(dt.(arrow.ListLikeType).Elem())
		if err != nil {
			return nil, err
		}
		return &ctype{kind: KindList, elem: elem}, nil
	case arrow.MAP:
		m := dt.(*arrow.MapType)
		k, err := canonicalType(m.KeyType())
		if err != nil {
			return nil, err
		}
		v, err := canonicalType(m.ItemType())
		if err != nil {
			return nil, err
		}
		return &ctype{kind: KindMap, key: k, value: v}, nil
	case arrow.STRUCT:
		st := dt.(*arrow.StructType)
		out := &ctype{kind: KindStruct}
		for _, f := range st.Fields() {
			ft, err := canonicalType(f.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			out.fields = append(out.fields, cfield{name: f.Name, typ: ft})
		}
		sort.SliceStable(out.fields, func(i, j int) bool { return out.fields[i].name < out.fields[j].name })
		for i := 1; i < len(out.fields); i++ {
			if out.fields[i].name == out.fields[i-1].name {
				return nil, fmt.Errorf("%w: struct has two fields named %q", ErrUnsupportedType, out.fields[i].name)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w %s (kinds: integer, float, decimal, string, binary, bool, date, time, timestamp, uuid, list, map, struct)", ErrUnsupportedType, dt)
}

// ErrSchemaMismatch marks two sides whose columns cannot be compared
// (contracts §2): a column on one side only, or a column whose kinds differ.
var ErrSchemaMismatch = errors.New("schema mismatch")

// column is one compared column: its name, canonical type, and the Arrow
// type each side declared.
type column struct {
	name       string
	typ        *ctype
	legacyType arrow.DataType
	newType    arrow.DataType
}

// schemaColumns returns the canonical types of a schema's top-level columns
// by name, dropping ignored ones.
func schemaColumns(side string, sc *arrow.Schema, ignore map[string]bool) (map[string]*ctype, map[string]arrow.DataType, error) {
	types := map[string]*ctype{}
	arrowTypes := map[string]arrow.DataType{}
	for _, f := range sc.Fields() {
		if ignore[f.Name] {
			continue
		}
		if _, dup := types[f.Name]; dup {
			return nil, nil, fmt.Errorf("%s: %w: two columns named %q", side, ErrSchemaMismatch, f.Name)
		}
		t, err := canonicalType(f.Type)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: column %q: %w", side, f.Name, err)
		}
		types[f.Name] = t
		arrowTypes[f.Name] = f.Type
	}
	return types, arrowTypes, nil
}

// matchSchemas applies the schema-mismatch rule of contracts §2 after
// dropping ignored columns, and returns the compared columns sorted by name.
// The error lists every offending column with its type on each side.
func matchSchemas(legacy, newer *arrow.Schema, ignore []string) ([]column, error) {
	ig := map[string]bool{}
	for _, c := range ignore {
		ig[c] = true
	}
	lt, la, err := schemaColumns("legacy", legacy, ig)
	if err != nil {
		return nil, err
	}
	nt, na, err := schemaColumns("new", newer, ig)
	if err != nil {
		return nil, err
	}
	for _, c := range ignore {
		if legacy.HasField(c) || newer.HasField(c) {
			continue
		}
		return nil, fmt.Errorf("%w: --ignore column %q exists on neither side", ErrUnknownColumn, c)
	}
	names := map[string]bool{}
	for n := range lt {
		names[n] = true
	}
	for n := range nt {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)
	var problems []string
	var cols []column
	for _, n := range sorted {
		l, inL := lt[n]
		r, inR := nt[n]
		switch {
		case !inL:
			problems = append(problems, fmt.Sprintf("column %q only in new (%s, kind %s)", n, na[n], r))
		case !inR:
			problems = append(problems, fmt.Sprintf("column %q only in legacy (%s, kind %s)", n, la[n], l))
		case !l.equal(r):
			problems = append(problems, fmt.Sprintf("column %q: legacy %s (kind %s), new %s (kind %s)", n, la[n], l, na[n], r))
		default:
			cols = append(cols, column{name: n, typ: l, legacyType: la[n], newType: na[n]})
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w between legacy and new:\n%s", ErrSchemaMismatch, strings.Join(problems, "\n"))
	}
	return cols, nil
}

// carried is the set of carried columns (Options.Carry): per side, the ones
// that side has, in Carry order, with their canonical and Arrow types.
// They travel with each row but are never compared.
type carried struct {
	names [2][]string
	types [2][]*ctype
	arrow [2][]arrow.DataType
}

// any reports whether some side carries a column.
func (c *carried) any() bool { return c != nil && (len(c.names[0]) > 0 || len(c.names[1]) > 0) }

// carryColumns checks Options.Carry against both schemas, the key and the
// ignore list, and returns the carried columns of each side.
func carryColumns(legacy, newer *arrow.Schema, carry, key, ignore []string) (*carried, error) {
	c := &carried{}
	seen := map[string]bool{}
	for _, n := range carry {
		if seen[n] {
			return nil, fmt.Errorf("%w: carried column %q named twice", ErrBadRule, n)
		}
		seen[n] = true
		if slices.Contains(key, n) {
			return nil, fmt.Errorf("%w: column %q is both carried (--carry) and a key column (--key): a carried column is never compared", ErrBadRule, n)
		}
		if slices.Contains(ignore, n) {
			return nil, fmt.Errorf("%w: column %q is both carried (--carry) and ignored (--ignore)", ErrBadRule, n)
		}
		found := false
		for s, sc := range []*arrow.Schema{legacy, newer} {
			side := sideNames[s]
			is := sc.FieldIndices(n)
			switch len(is) {
			case 0:
				continue
			case 1:
			default:
				return nil, fmt.Errorf("%s: %w: two columns named %q", side, ErrSchemaMismatch, n)
			}
			f := sc.Field(is[0])
			t, err := canonicalType(f.Type)
			if err != nil {
				return nil, fmt.Errorf("%s: carried column %q: %w", side, n, err)
			}
			found = true
			c.names[s] = append(c.names[s], n)
			c.types[s] = append(c.types[s], t)
			c.arrow[s] = append(c.arrow[s], f.Type)
		}
		if !found {
			return nil, fmt.Errorf("%w: carried column %q exists on neither side", ErrUnknownColumn, n)
		}
	}
	return c, nil
}
