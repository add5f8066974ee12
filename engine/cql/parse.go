package cql

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// maxDepth bounds nesting so hostile type strings cannot exhaust the stack.
const maxDepth = 64

var classKinds = map[string]Kind{}

func init() {
	for k, info := range kinds {
		if info.class != "" {
			classKinds[info.class] = Kind(k)
		}
	}
}

// ParseMarshal parses a Cassandra marshal type string, as found in
// Statistics.db serialization headers: qualified or short class names,
// FrozenType, ReversedType, ListType, SetType, MapType, TupleType,
// UserType(ks,hexname,hexfield:type,...), VectorType(type,n) and
// CompositeType. Everything inside FrozenType is frozen.
func ParseMarshal(s string) (*Type, error) {
	p := &marshalParser{s: s}
	return p.whole(p.parse(false, 0))
}

type marshalParser struct {
	s string
	i int
}

// whole passes on the result of parsing a type when nothing but spaces
// follows it.
func (p *marshalParser) whole(t *Type, err error) (*Type, error) {
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("end of type")
	}
	return t, nil
}

func (p *marshalParser) errorf(want string) error {
	got := "end of string"
	if p.i < len(p.s) {
		got = strconv.Quote(p.s[p.i:min(len(p.s), p.i+20)])
	}
	return fmt.Errorf("%w %q at offset %d: want %s, got %s", ErrBadType, p.s, p.i, want, got)
}

func (p *marshalParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '&' || c == '-' || c == '+' || c == '$'
}

func (p *marshalParser) name() string {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *marshalParser) accept(c byte) bool {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *marshalParser) expect(c byte) error {
	if !p.accept(c) {
		return p.errorf(strconv.QuoteRune(rune(c)))
	}
	return nil
}

// params parses "(t1,t2,...)" after a class name.
func (p *marshalParser) params(frozen bool, depth int) ([]*Type, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	var out []*Type
	if p.accept(')') {
		return out, nil
	}
	for {
		t, err := p.parse(frozen, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		if p.accept(')') {
			return out, nil
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
	}
}

func (p *marshalParser) parse(frozen bool, depth int) (*Type, error) {
	if depth > maxDepth {
		return nil, p.errorf("less nesting")
	}
	start := p.i
	full := p.name()
	if full == "" {
		return nil, p.errorf("a type name")
	}
	class := full
	if strings.HasPrefix(class, Package) {
		class = class[len(Package):]
	} else if strings.Contains(class, ".") {
		p.i = start
		return nil, p.errorf("a type of package " + Package)
	}
	switch class {
	case "FrozenType":
		ts, err := p.params(true, depth)
		if err != nil {
			return nil, err
		}
		if len(ts) != 1 {
			return nil, p.errorf("FrozenType of one type")
		}
		return ts[0], nil
	case "ReversedType":
		ts, err := p.params(frozen, depth)
		if err != nil {
			return nil, err
		}
		if len(ts) != 1 {
			return nil, p.errorf("ReversedType of one type")
		}
		r := *ts[0]
		r.Reversed = true
		return &r, nil
	case "ListType", "SetType", "MapType":
		// Elements of a collection are frozen whether or not the string says so.
		ts, err := p.params(true, depth)
		if err != nil {
			return nil, err
		}
		k := classKinds[class]
		if (k == KindMap) != (len(ts) == 2) || (k != KindMap && len(ts) != 1) {
			return nil, p.errorf(fmt.Sprintf("the right number of %s parameters", class))
		}
		return &Type{Kind: k, Elems: ts, Frozen: frozen}, nil
	case "TupleType":
		ts, err := p.params(true, depth)
		if err != nil {
			return nil, err
		}
		return &Type{Kind: KindTuple, Elems: ts, Frozen: true}, nil
	case "CompositeType":
		ts, err := p.params(frozen, depth)
		if err != nil {
			return nil, err
		}
		if len(ts) == 0 {
			return nil, p.errorf("CompositeType components")
		}
		return &Type{Kind: KindComposite, Elems: ts, Frozen: true}, nil
	case "VectorType":
		if err := p.expect('('); err != nil {
			return nil, err
		}
		e, err := p.parse(true, depth+1)
		if err != nil {
			return nil, err
		}
		n, err := p.vectorDim(')')
		if err != nil {
			return nil, err
		}
		return &Type{Kind: KindVector, Elems: []*Type{e}, Dim: n, Frozen: true}, nil
	case "UserType":
		return p.userType(frozen, depth)
	case "DateType":
		return &Type{Kind: KindTimestamp, Legacy: "DateType"}, nil
	}
	k, ok := classKinds[class]
	if !ok || k >= KindList {
		p.i = start
		return nil, p.errorf("a known marshal type")
	}
	return &Type{Kind: k}, nil
}

// vectorDim parses the ", dimension" and closing bracket that end a vector
// type, in marshal ("VectorType(t,n)") and CQL ("vector<t, n>") syntax.
func (p *marshalParser) vectorDim(closing byte) (int, error) {
	if err := p.expect(','); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(p.name())
	if err != nil || n <= 0 {
		return 0, p.errorf("a positive vector dimension")
	}
	if err := p.expect(closing); err != nil {
		return 0, err
	}
	return n, nil
}

func (p *marshalParser) userType(frozen bool, depth int) (*Type, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	ks := p.name()
	if ks == "" {
		return nil, p.errorf("a keyspace name")
	}
	if err := p.expect(','); err != nil {
		return nil, err
	}
	name, err := p.hexName()
	if err != nil {
		return nil, err
	}
	t := &Type{Kind: KindUDT, Keyspace: ks, Name: name, Frozen: frozen}
	for p.accept(',') {
		f, err := p.hexName()
		if err != nil {
			return nil, err
		}
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		ft, err := p.parse(true, depth+1)
		if err != nil {
			return nil, err
		}
		t.Fields = append(t.Fields, f)
		t.Elems = append(t.Elems, ft)
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return t, nil
}

func (p *marshalParser) hexName() (string, error) {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) {
		p.i++
	}
	b, err := hex.DecodeString(p.s[start:p.i])
	if err != nil || p.i == start {
		p.i = start
		return "", p.errorf("a hex-encoded name")
	}
	return string(b), nil
}

// UDTResolver returns the user-defined type named in CQL (keyspace may be
// empty when the name is not qualified).
type UDTResolver func(keyspace, name string) (*Type, error)

var cqlNames = map[string]Kind{"varchar": KindText}

func init() {
	for k, info := range kinds {
		if info.cql != "" && info.cql[0] != '\'' {
			cqlNames[info.cql] = Kind(k)
		}
	}
}

// ParseCQL parses a CQL type name such as "int", "frozen<map<text, int>>",
// "list<int>", "tuple<int, text>", "vector<float, 3>" or a UDT name resolved
// with udts (which may be nil when no UDTs are used). A quoted string is a
// marshal type ('org.apache.cassandra.db.marshal.X'). Types nested in a
// collection, tuple or UDT are frozen, as Cassandra requires.
func ParseCQL(s string, udts UDTResolver) (*Type, error) {
	p := &cqlParser{marshalParser{s: s}, udts}
	return p.whole(p.parse(0))
}

type cqlParser struct {
	marshalParser
	udts UDTResolver
}

func (p *cqlParser) ident() (string, error) {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var sb strings.Builder
		p.i++
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			if c == '"' {
				if p.i < len(p.s) && p.s[p.i] == '"' {
					sb.WriteByte('"')
					p.i++
					continue
				}
				return sb.String(), nil
			}
			sb.WriteByte(c)
		}
		return "", p.errorf(`a closing '"'`)
	}
	start := p.i
	for p.i < len(p.s) && (isNameByte(p.s[p.i]) && p.s[p.i] != '.') {
		p.i++
	}
	if p.i == start {
		return "", p.errorf("a type name")
	}
	return strings.ToLower(p.s[start:p.i]), nil
}

func (p *cqlParser) args(n int, depth int) ([]*Type, error) {
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	var out []*Type
	for {
		t, err := p.parse(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, t.frozenInner())
		if p.accept('>') {
			break
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
	}
	if n > 0 && len(out) != n {
		return nil, p.errorf(fmt.Sprintf("%d type parameters", n))
	}
	return out, nil
}

func (p *cqlParser) parse(depth int) (*Type, error) {
	if depth > maxDepth {
		return nil, p.errorf("less nesting")
	}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '\'' {
		end := strings.IndexByte(p.s[p.i+1:], '\'')
		if end < 0 {
			return nil, p.errorf("a closing quote")
		}
		t, err := ParseMarshal(p.s[p.i+1 : p.i+1+end])
		if err != nil {
			return nil, err
		}
		p.i += end + 2
		return t, nil
	}
	start := p.i
	quoted := p.i < len(p.s) && p.s[p.i] == '"'
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	if !quoted {
		switch name {
		case "frozen":
			ts, err := p.args(1, depth)
			if err != nil {
				return nil, err
			}
			return ts[0].frozenInner(), nil
		case "list", "set":
			ts, err := p.args(1, depth)
			if err != nil {
				return nil, err
			}
			return &Type{Kind: cqlNames[name], Elems: ts}, nil
		case "map":
			ts, err := p.args(2, depth)
			if err != nil {
				return nil, err
			}
			return &Type{Kind: KindMap, Elems: ts}, nil
		case "tuple":
			ts, err := p.args(0, depth)
			if err != nil {
				return nil, err
			}
			return &Type{Kind: KindTuple, Elems: ts, Frozen: true}, nil
		case "vector":
			if err := p.expect('<'); err != nil {
				return nil, err
			}
			e, err := p.parse(depth + 1)
			if err != nil {
				return nil, err
			}
			n, err := p.vectorDim('>')
			if err != nil {
				return nil, err
			}
			return VectorOf(e, n), nil
		}
		if k, ok := cqlNames[name]; ok && k < KindList {
			return &Type{Kind: k}, nil
		}
	}
	ks := ""
	if p.accept('.') {
		ks = name
		if name, err = p.ident(); err != nil {
			return nil, err
		}
	}
	if p.udts == nil {
		p.i = start
		return nil, p.errorf("a CQL type (no user-defined types are known)")
	}
	t, err := p.udts(ks, name)
	if err != nil || t == nil || t.Kind != KindUDT {
		p.i = start
		return nil, p.errorf("a known user-defined type")
	}
	c := *t
	c.Frozen = false
	return &c, nil
}
