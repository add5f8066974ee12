package schema

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

type parser struct {
	file string
	toks []token
	pos  int
	s    *Schema
	use  string // keyspace of USE, for unqualified names
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekAt(i int) token {
	if p.pos+i < len(p.toks) {
		return p.toks[p.pos+i]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errAt(t token, kind error, format string, args ...any) error {
	return &Error{File: p.file, Line: t.line, Col: t.col, Msg: fmt.Sprintf(format, args...), kind: kind}
}

func (p *parser) syntax(format string, args ...any) error {
	return p.errAt(p.peek(), ErrSyntax, format, args...)
}

// expected builds "expected X, found Y" at the current token.
func (p *parser) expected(what string) error {
	return p.syntax("expected %s, found %s", what, p.peek().describe())
}

func (p *parser) accept(kw string) bool {
	if p.peek().is(kw) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) acceptSym(s string) bool {
	if p.peek().sym(s) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(kw string) error {
	if !p.accept(kw) {
		return p.expected(strings.ToUpper(kw))
	}
	return nil
}

func (p *parser) expectSym(s string) error {
	if !p.acceptSym(s) {
		return p.expected(fmt.Sprintf("%q", s))
	}
	return nil
}

// ident reads an identifier: unquoted ones are case-insensitive and come
// back in lower case; quoted ones keep their case.
func (p *parser) ident(what string) (string, error) {
	t := p.peek()
	switch t.kind {
	case tIdent:
		p.pos++
		return strings.ToLower(t.text), nil
	case tQuoted:
		p.pos++
		return t.text, nil
	}
	return "", p.expected(what)
}

// qualified reads [keyspace.]name.
func (p *parser) qualified(what string) (ks, name string, err error) {
	first, err := p.ident(what)
	if err != nil {
		return "", "", err
	}
	if p.acceptSym(".") {
		name, err := p.ident(what)
		return first, name, err
	}
	return p.use, first, nil
}

func (p *parser) parse() error {
	for {
		for p.acceptSym(";") {
		}
		t := p.peek()
		if t.kind == tEOF {
			return nil
		}
		if err := p.statement(); err != nil {
			return err
		}
		if !p.acceptSym(";") && p.peek().kind != tEOF {
			return p.expected(`";" at the end of the statement`)
		}
	}
}

func (p *parser) statement() error {
	start := p.peek()
	switch {
	case p.accept("use"):
		ks, err := p.ident("keyspace name")
		if err != nil {
			return err
		}
		p.use = ks
		return nil
	case p.accept("create"):
		p.accept("or") // CREATE OR REPLACE FUNCTION/AGGREGATE
		p.accept("replace")
		switch {
		case p.accept("keyspace"), p.accept("schema"):
			return p.createKeyspace(start)
		case p.accept("type"):
			return p.createType(start)
		case p.accept("table"), p.accept("columnfamily"):
			return p.createTable(start)
		case p.peek().is("index"), p.peek().is("custom"), p.peek().is("materialized"),
			p.peek().is("function"), p.peek().is("aggregate"), p.peek().is("trigger"),
			p.peek().is("role"), p.peek().is("user"), p.peek().is("search"), p.peek().is("virtual"):
			return p.skipStatement()
		}
		return p.expected("KEYSPACE, TYPE or TABLE after CREATE")
	case start.is("alter") && p.peekAt(1).is("table"):
		return p.alterTable(start)
	case start.is("alter"), start.is("drop"), start.is("insert"), start.is("update"), start.is("delete"),
		start.is("select"), start.is("truncate"), start.is("grant"), start.is("revoke"):
		return p.syntax("unsupported statement %s: a schema file holds CREATE statements only", strings.ToUpper(start.text))
	}
	return p.expected("a CREATE statement")
}

// alterTable reads the two ALTER TABLE forms that DESCRIBE … WITH
// INTERNALS prints after a CREATE TABLE to record dropped columns:
//
//	ALTER TABLE ks.t DROP c USING TIMESTAMP 1600000000000000;   c was dropped then
//	ALTER TABLE ks.t ADD c int [static];                        c was added again
//
// Other ALTER statements are not part of a schema file.
func (p *parser) alterTable(start token) error {
	p.pos += 2 // ALTER TABLE
	nameTok := p.peek()
	ksName, name, err := p.qualified("table name")
	if err != nil {
		return err
	}
	var t *Table
	if k := p.s.Keyspace(ksName); k != nil {
		t = k.Table(name)
	}
	if t == nil {
		return p.errAt(nameTok, ErrInvalid, "ALTER TABLE %s.%s before its CREATE TABLE", ksName, name)
	}
	switch {
	case p.accept("drop"):
		ct := p.peek()
		cname, err := p.ident("column name")
		if err != nil {
			return err
		}
		if err := p.expect("using"); err != nil {
			return err
		}
		if err := p.expect("timestamp"); err != nil {
			return err
		}
		nt := p.next()
		ts, err := strconv.ParseInt(nt.text, 10, 64)
		if nt.kind != tNumber || err != nil {
			return p.errAt(nt, ErrSyntax, "expected a timestamp in microseconds, found %s", nt.describe())
		}
		c := t.Column(cname)
		if c == nil {
			return p.errAt(ct, ErrInvalid, "table %s.%s has no column %s to drop", ksName, name, cname)
		}
		if c.Kind != Regular && c.Kind != Static {
			return p.errAt(ct, ErrInvalid, "table %s.%s: cannot drop primary key column %s", ksName, name, cname)
		}
		t.Columns = slices.DeleteFunc(t.Columns, func(x *Column) bool { return x == c })
		t.Dropped = append(t.Dropped, DroppedColumn{Name: cname, Type: c.Type, Time: ts})
		return nil
	case p.accept("add"):
		ct := p.peek()
		cname, err := p.ident("column name")
		if err != nil {
			return err
		}
		ctype, err := p.typ()
		if err != nil {
			return err
		}
		c := &Column{Name: cname, Type: ctype, Index: -1}
		if p.accept("static") {
			c.Kind = Static
		}
		if t.Column(cname) != nil {
			return p.errAt(ct, ErrInvalid, "table %s.%s: column %s appears twice", ksName, name, cname)
		}
		t.Columns = append(t.Columns, c)
		return nil
	}
	return p.syntax("unsupported ALTER TABLE: a schema file holds CREATE statements and the ALTER TABLE … DROP … USING TIMESTAMP / ADD lines of DESCRIBE … WITH INTERNALS only")
}

// skipStatement skips to the ";" that ends the statement (strings and
// function bodies are single tokens, so a ";" inside them is safe).
func (p *parser) skipStatement() error {
	depth := 0
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return nil
		case t.sym("(") || t.sym("{") || t.sym("["):
			depth++
		case t.sym(")") || t.sym("}") || t.sym("]"):
			depth--
		case t.sym(";") && depth <= 0:
			return nil
		}
		p.pos++
	}
}

func (p *parser) ifNotExists() error {
	if p.accept("if") {
		if err := p.expect("not"); err != nil {
			return err
		}
		return p.expect("exists")
	}
	return nil
}

// keyspace returns the keyspace, creating an implied one for a table or
// type of a keyspace that the file does not create.
func (p *parser) keyspace(name string) *Keyspace {
	if k := p.s.Keyspace(name); k != nil {
		return k
	}
	k := &Keyspace{Name: name, DurableWrites: true}
	p.s.Keyspaces = append(p.s.Keyspaces, k)
	return k
}

func (p *parser) createKeyspace(start token) error {
	if err := p.ifNotExists(); err != nil {
		return err
	}
	nameTok := p.peek()
	name, err := p.ident("keyspace name")
	if err != nil {
		return err
	}
	if k := p.s.Keyspace(name); k != nil && k.Line != 0 {
		return p.errAt(nameTok, ErrInvalid, "keyspace %s is created twice (first at line %d)", name, k.Line)
	}
	k := p.keyspace(name)
	k.Line = start.line
	if err := p.expect("with"); err != nil {
		return err
	}
	sawReplication := false
	for {
		optTok := p.peek()
		opt, err := p.ident("keyspace option")
		if err != nil {
			return err
		}
		if err := p.expectSym("="); err != nil {
			return err
		}
		switch opt {
		case "replication":
			m, err := p.mapLiteral()
			if err != nil {
				return err
			}
			r, err := replication(m)
			if err != nil {
				return p.errAt(optTok, ErrInvalid, "keyspace %s: %v", name, err)
			}
			k.Replication = r
			sawReplication = true
		case "durable_writes":
			v, err := p.constant()
			if err != nil {
				return err
			}
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return p.errAt(optTok, ErrInvalid, "keyspace %s: durable_writes = %s: want true or false", name, v)
			}
			k.DurableWrites = b
		default:
			// graph_engine and other vendor options.
			if _, err := p.optionValue(); err != nil {
				return err
			}
		}
		if !p.accept("and") {
			break
		}
	}
	if !sawReplication {
		return p.errAt(start, ErrInvalid, "keyspace %s has no replication option", name)
	}
	return nil
}

// replication reads the replication map.
func replication(m map[string]string) (Replication, error) {
	r := Replication{Options: m, DCFactors: map[string]int{}}
	class, ok := m["class"]
	if !ok {
		return r, fmt.Errorf("replication has no 'class'")
	}
	if i := strings.LastIndex(class, "."); i >= 0 {
		class = class[i+1:]
	}
	r.Class = class
	parseRF := func(k, v string) (int, error) {
		total, _, _ := strings.Cut(v, "/") // transient replication: "3/1"
		n, err := strconv.Atoi(strings.TrimSpace(total))
		if err != nil || n < 0 {
			return 0, fmt.Errorf("replication factor %s = %q: want a whole number", k, v)
		}
		return n, nil
	}
	switch class {
	case "SimpleStrategy":
		v, ok := m["replication_factor"]
		if !ok {
			return r, fmt.Errorf("SimpleStrategy needs 'replication_factor'")
		}
		n, err := parseRF("replication_factor", v)
		if err != nil {
			return r, err
		}
		r.Factor = n
	case "NetworkTopologyStrategy":
		for k, v := range m {
			if k == "class" {
				continue
			}
			n, err := parseRF(k, v)
			if err != nil {
				return r, err
			}
			if k == "replication_factor" {
				// A default for every DC (Cassandra 4.0+); kept in Factor.
				r.Factor = n
				continue
			}
			r.DCFactors[k] = n
		}
	}
	return r, nil
}

func (p *parser) createType(start token) error {
	if err := p.ifNotExists(); err != nil {
		return err
	}
	nameTok := p.peek()
	ksName, name, err := p.qualified("type name")
	if err != nil {
		return err
	}
	if ksName == "" {
		return p.errAt(nameTok, ErrInvalid, "type %s has no keyspace: write ks.%s or put USE ks; before it", name, name)
	}
	k := p.keyspace(ksName)
	if k.Type(name) != nil {
		return p.errAt(nameTok, ErrInvalid, "type %s.%s is created twice", ksName, name)
	}
	ty := &Type{Keyspace: ksName, Name: name, Line: start.line}
	if err := p.expectSym("("); err != nil {
		return err
	}
	seen := map[string]bool{}
	for {
		ft := p.peek()
		fname, err := p.ident("field name")
		if err != nil {
			return err
		}
		if seen[fname] {
			return p.errAt(ft, ErrInvalid, "type %s.%s: field %s appears twice", ksName, name, fname)
		}
		seen[fname] = true
		ftype, err := p.typ()
		if err != nil {
			return err
		}
		ty.Fields = append(ty.Fields, Field{Name: fname, Type: ftype})
		if p.acceptSym(")") {
			break
		}
		if err := p.expectSym(","); err != nil {
			return p.expected(`"," or ")" after field ` + fname)
		}
	}
	k.Types = append(k.Types, ty)
	return nil
}

func (p *parser) createTable(start token) error {
	if err := p.ifNotExists(); err != nil {
		return err
	}
	nameTok := p.peek()
	ksName, name, err := p.qualified("table name")
	if err != nil {
		return err
	}
	if ksName == "" {
		return p.errAt(nameTok, ErrInvalid, "table %s has no keyspace: write ks.%s or put USE ks; before it", name, name)
	}
	k := p.keyspace(ksName)
	if k.Table(name) != nil {
		return p.errAt(nameTok, ErrInvalid, "table %s.%s is created twice", ksName, name)
	}
	t := &Table{Keyspace: ksName, Name: name, Options: map[string]string{}, GCGraceSeconds: -1, Line: start.line}
	full := ksName + "." + name
	if err := p.expectSym("("); err != nil {
		return err
	}
	var pk, ck []string
	var pkTok token
	pkSet := false
	colTok := map[string]token{}
	for {
		if p.peek().is("primary") && p.peekAt(1).is("key") {
			if pkSet {
				return p.errAt(p.peek(), ErrInvalid, "table %s: PRIMARY KEY is given twice", full)
			}
			pkTok = p.peek()
			p.pos += 2
			pk, ck, err = p.primaryKey()
			if err != nil {
				return err
			}
			pkSet = true
		} else {
			ct := p.peek()
			cname, err := p.ident("column name or PRIMARY KEY")
			if err != nil {
				return err
			}
			if t.Column(cname) != nil {
				return p.errAt(ct, ErrInvalid, "table %s: column %s appears twice", full, cname)
			}
			ctype, err := p.typ()
			if err != nil {
				return err
			}
			c := &Column{Name: cname, Type: ctype, Index: -1}
			colTok[cname] = ct
			for {
				if p.accept("static") {
					c.Kind = Static
					continue
				}
				if p.peek().is("primary") && p.peekAt(1).is("key") {
					if pkSet {
						return p.errAt(p.peek(), ErrInvalid, "table %s: PRIMARY KEY is given twice", full)
					}
					pkTok = p.peek()
					p.pos += 2
					pk, ck, pkSet = []string{cname}, nil, true
					continue
				}
				break
			}
			t.Columns = append(t.Columns, c)
		}
		if p.acceptSym(")") {
			break
		}
		if !p.acceptSym(",") {
			return p.expected(`"," or ")" in the column list of ` + full)
		}
		if p.acceptSym(")") { // a trailing comma
			break
		}
	}
	if !pkSet {
		return p.errAt(start, ErrInvalid, "table %s has no PRIMARY KEY", full)
	}
	order := map[string]Order{}
	var orderTok token
	var orderCols []string
	if p.accept("with") {
		for {
			optTok := p.peek()
			switch {
			case p.accept("clustering"):
				if err := p.expect("order"); err != nil {
					return err
				}
				if err := p.expect("by"); err != nil {
					return err
				}
				orderTok = optTok
				if err := p.expectSym("("); err != nil {
					return err
				}
				for {
					ct := p.peek()
					cname, err := p.ident("clustering column")
					if err != nil {
						return err
					}
					o := Asc
					switch {
					case p.accept("asc"):
					case p.accept("desc"):
						o = Desc
					}
					if _, dup := order[cname]; dup {
						return p.errAt(ct, ErrInvalid, "table %s: column %s appears twice in CLUSTERING ORDER BY", full, cname)
					}
					order[cname] = o
					orderCols = append(orderCols, cname)
					if p.acceptSym(")") {
						break
					}
					if err := p.expectSym(","); err != nil {
						return err
					}
				}
			case p.accept("compact"):
				if err := p.expect("storage"); err != nil {
					return err
				}
				t.CompactStorage = true
			default:
				opt, err := p.ident("table option")
				if err != nil {
					return err
				}
				if err := p.expectSym("="); err != nil {
					return err
				}
				v, err := p.optionValue()
				if err != nil {
					return err
				}
				t.Options[opt] = v
				switch opt {
				case "default_time_to_live", "gc_grace_seconds":
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil || n < 0 {
						return p.errAt(optTok, ErrInvalid, "table %s: %s = %s: want a whole number of seconds", full, opt, v)
					}
					if opt == "default_time_to_live" {
						t.DefaultTTL = n
					} else {
						t.GCGraceSeconds = n
					}
				case "id":
					t.ID = strings.ToLower(v)
				}
			}
			if !p.accept("and") {
				break
			}
		}
	}
	// Resolve the key.
	for i, name := range pk {
		c := t.Column(name)
		if c == nil {
			return p.errAt(pkTok, ErrInvalid, "table %s: partition key column %s is not defined", full, name)
		}
		if c.Kind == Static {
			return p.errAt(colTok[name], ErrInvalid, "table %s: key column %s cannot be static", full, name)
		}
		if c.Kind != Regular {
			return p.errAt(pkTok, ErrInvalid, "table %s: column %s appears twice in the PRIMARY KEY", full, name)
		}
		c.Kind, c.Index = PartitionKey, i
		t.PartitionKey = append(t.PartitionKey, c)
	}
	for i, name := range ck {
		c := t.Column(name)
		if c == nil {
			return p.errAt(pkTok, ErrInvalid, "table %s: clustering column %s is not defined", full, name)
		}
		if c.Kind == Static {
			return p.errAt(colTok[name], ErrInvalid, "table %s: key column %s cannot be static", full, name)
		}
		if c.Kind != Regular {
			return p.errAt(pkTok, ErrInvalid, "table %s: column %s appears twice in the PRIMARY KEY", full, name)
		}
		c.Kind, c.Index = Clustering, i
		t.Clustering = append(t.Clustering, c)
	}
	for i, name := range orderCols {
		if i >= len(ck) || ck[i] != name {
			return p.errAt(orderTok, ErrInvalid, "table %s: CLUSTERING ORDER BY must list the clustering columns in key order (%s), found %s",
				full, strings.Join(ck, ", "), strings.Join(orderCols, ", "))
		}
		t.Clustering[i].Order = order[name]
	}
	if st := t.Static(); len(st) > 0 && len(ck) == 0 && !t.CompactStorage {
		return p.errAt(colTok[st[0].Name], ErrInvalid, "table %s: static column %s needs clustering columns", full, st[0].Name)
	}
	k.Tables = append(k.Tables, t)
	return nil
}

// primaryKey reads ( pk | (pk1, pk2) [, ck ...] ).
func (p *parser) primaryKey() (pk, ck []string, err error) {
	if err := p.expectSym("("); err != nil {
		return nil, nil, err
	}
	if p.acceptSym("(") {
		for {
			n, err := p.ident("partition key column")
			if err != nil {
				return nil, nil, err
			}
			pk = append(pk, n)
			if p.acceptSym(")") {
				break
			}
			if err := p.expectSym(","); err != nil {
				return nil, nil, err
			}
		}
	} else {
		n, err := p.ident("partition key column")
		if err != nil {
			return nil, nil, err
		}
		pk = []string{n}
	}
	for p.acceptSym(",") {
		n, err := p.ident("clustering column")
		if err != nil {
			return nil, nil, err
		}
		ck = append(ck, n)
	}
	if err := p.expectSym(")"); err != nil {
		return nil, nil, err
	}
	return pk, ck, nil
}

// nativeTypes are CQL's built-in type names, rendered in lower case.
var nativeTypes = map[string]bool{
	"ascii": true, "bigint": true, "blob": true, "boolean": true, "counter": true, "date": true,
	"decimal": true, "double": true, "duration": true, "float": true, "inet": true, "int": true,
	"smallint": true, "text": true, "time": true, "timestamp": true, "timeuuid": true, "tinyint": true,
	"uuid": true, "varchar": true, "varint": true,
	// Parameterised ones.
	"frozen": true, "list": true, "set": true, "map": true, "tuple": true, "vector": true,
}

// typ reads a CQL type and renders it canonically.
func (p *parser) typ() (string, error) {
	t := p.peek()
	switch t.kind {
	case tString: // a custom type: 'org.apache.cassandra.db.marshal.DynamicCompositeType(...)'
		p.pos++
		return "'" + strings.ReplaceAll(t.text, "'", "''") + "'", nil
	case tIdent, tQuoted:
	default:
		return "", p.expected("a type")
	}
	p.pos++
	var name string
	if t.kind == tIdent && nativeTypes[strings.ToLower(t.text)] {
		name = strings.ToLower(t.text)
	} else {
		name = renderIdent(t)
		if p.acceptSym(".") { // ks.udt
			t2 := p.peek()
			if t2.kind != tIdent && t2.kind != tQuoted {
				return "", p.expected("a type name after the keyspace")
			}
			p.pos++
			name += "." + renderIdent(t2)
		}
		return name, nil
	}
	if !p.acceptSym("<") {
		switch name {
		case "frozen", "list", "set", "map", "tuple", "vector":
			return "", p.expected(`"<" after ` + name)
		}
		return name, nil
	}
	var args []string
	for {
		if name == "vector" && len(args) == 1 && p.peek().kind == tNumber {
			args = append(args, p.next().text)
		} else {
			a, err := p.typ()
			if err != nil {
				return "", err
			}
			args = append(args, a)
		}
		if p.acceptSym(">") {
			break
		}
		if err := p.expectSym(","); err != nil {
			return "", p.expected(`"," or ">" in the type`)
		}
	}
	want := map[string]int{"frozen": 1, "list": 1, "set": 1, "map": 2, "vector": 2}
	if n, ok := want[name]; ok && len(args) != n {
		return "", p.errAt(t, ErrSyntax, "%s takes %d type argument(s), found %d", name, n, len(args))
	}
	if name == "tuple" && len(args) == 0 {
		return "", p.errAt(t, ErrSyntax, "tuple needs at least one type")
	}
	switch name {
	case "frozen", "list", "set", "map", "tuple", "vector":
	default:
		return "", p.errAt(t, ErrSyntax, "type %s takes no arguments", name)
	}
	return name + "<" + strings.Join(args, ", ") + ">", nil
}

// renderIdent writes an identifier as CQL would need it: lower-case
// unquoted names stay bare; others keep their quotes.
func renderIdent(t token) string {
	if t.kind == tIdent {
		return strings.ToLower(t.text)
	}
	plain := t.text != ""
	for i := 0; i < len(t.text); i++ {
		c := t.text[i]
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return t.text
	}
	return `"` + strings.ReplaceAll(t.text, `"`, `""`) + `"`
}

// constant reads a scalar literal and returns its text (strings unquoted).
func (p *parser) constant() (string, error) {
	t := p.peek()
	switch t.kind {
	case tString, tNumber, tUUID:
		p.pos++
		return t.text, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true", "false", "null", "nan", "infinity":
			p.pos++
			return strings.ToLower(t.text), nil
		}
	case tSymbol:
		if t.text == "-" && p.peekAt(1).is("infinity") {
			p.pos += 2
			return "-infinity", nil
		}
	}
	return "", p.expected("a constant")
}

// mapLiteral reads {'k': 'v', ...} into a map of texts.
func (p *parser) mapLiteral() (map[string]string, error) {
	if err := p.expectSym("{"); err != nil {
		return nil, err
	}
	m := map[string]string{}
	if p.acceptSym("}") {
		return m, nil
	}
	for {
		k, err := p.constant()
		if err != nil {
			return nil, err
		}
		if err := p.expectSym(":"); err != nil {
			return nil, err
		}
		var v string
		if p.peek().sym("{") {
			sub, err := p.mapLiteral()
			if err != nil {
				return nil, err
			}
			v = renderMap(sub)
		} else if v, err = p.constant(); err != nil {
			return nil, err
		}
		m[k] = v
		if p.acceptSym("}") {
			return m, nil
		}
		if err := p.expectSym(","); err != nil {
			return nil, p.expected(`"," or "}" in the map`)
		}
	}
}

func renderMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "'%s': '%s'", strings.ReplaceAll(k, "'", "''"), strings.ReplaceAll(m[k], "'", "''"))
	}
	b.WriteByte('}')
	return b.String()
}

// optionValue reads a table or keyspace option value: a constant, a map,
// or a list/set of constants.
func (p *parser) optionValue() (string, error) {
	switch {
	case p.peek().sym("{"):
		m, err := p.mapLiteral()
		if err != nil {
			return "", err
		}
		return renderMap(m), nil
	case p.peek().sym("["):
		p.pos++
		var items []string
		for !p.acceptSym("]") {
			v, err := p.constant()
			if err != nil {
				return "", err
			}
			items = append(items, "'"+v+"'")
			if !p.acceptSym(",") && !p.peek().sym("]") {
				return "", p.expected(`"," or "]"`)
			}
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	return p.constant()
}
