package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // unquoted identifier or keyword; text as written
	tQuoted         // "quoted identifier"; text unescaped
	tString         // 'string' or $$string$$; text unescaped
	tNumber         // 12, -3.5, 1e10, 0xCAFE
	tUUID           // 5a1c395e-b41f-11e5-9f22-ba0be0483c18
	tSymbol         // ( ) < > , ; . = { } [ ] : ? + - *
)

func (k tokKind) String() string {
	return [...]string{"end of input", "identifier", "quoted identifier", "string", "number", "uuid", "symbol"}[k]
}

type token struct {
	kind      tokKind
	text      string
	line, col int // 1-based; col counts characters
	off       int // byte offset
}

// describe renders a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of input"
	case tString:
		return fmt.Sprintf("string '%s'", t.text)
	case tQuoted:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// is reports whether t is the keyword kw (case-insensitive, unquoted only).
func (t token) is(kw string) bool { return t.kind == tIdent && strings.EqualFold(t.text, kw) }

func (t token) sym(s string) bool { return t.kind == tSymbol && t.text == s }

type lexer struct {
	file      string
	src       string
	off       int
	line, col int
}

func (l *lexer) errorf(line, col int, format string, args ...any) error {
	return &Error{File: l.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

// advance moves n bytes forward, keeping line and column.
func (l *lexer) advance(n int) {
	for i := 0; i < n && l.off < len(l.src); {
		r, size := utf8.DecodeRuneInString(l.src[l.off:])
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.off += size
		i += size
	}
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// uuidAt reports whether a UUID literal starts at s.
func uuidAt(s string) bool {
	if len(s) < 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return len(s) == 36 || !isIdentChar(s[36])
}

// skipSpace skips white space and comments (-- … , // … and /* … */).
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			l.advance(1)
		case c == '-' && l.peekByte(1) == '-', c == '/' && l.peekByte(1) == '/':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			line, col := l.line, l.col
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return l.errorf(line, col, "comment /* is never closed")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	t := token{line: l.line, col: l.col, off: l.off}
	if l.off >= len(l.src) {
		t.kind = tEOF
		return t, nil
	}
	c := l.src[l.off]
	rest := l.src[l.off:]
	switch {
	case uuidAt(rest):
		t.kind, t.text = tUUID, strings.ToLower(rest[:36])
		l.advance(36)
	case isIdentStart(c):
		n := 1
		for n < len(rest) && isIdentChar(rest[n]) {
			n++
		}
		t.kind, t.text = tIdent, rest[:n]
		l.advance(n)
	case c == '"':
		var b strings.Builder
		i := 1
		for {
			if i >= len(rest) {
				return t, l.errorf(t.line, t.col, "quoted identifier is never closed")
			}
			if rest[i] == '"' {
				if i+1 < len(rest) && rest[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				break
			}
			b.WriteByte(rest[i])
			i++
		}
		if b.Len() == 0 {
			return t, l.errorf(t.line, t.col, "empty quoted identifier")
		}
		t.kind, t.text = tQuoted, b.String()
		l.advance(i + 1)
	case c == '\'':
		var b strings.Builder
		i := 1
		for {
			if i >= len(rest) {
				return t, l.errorf(t.line, t.col, "string is never closed")
			}
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			b.WriteByte(rest[i])
			i++
		}
		t.kind, t.text = tString, b.String()
		l.advance(i + 1)
	case c == '$' && l.peekByte(1) == '$':
		end := strings.Index(rest[2:], "$$")
		if end < 0 {
			return t, l.errorf(t.line, t.col, "$$ string is never closed")
		}
		t.kind, t.text = tString, rest[2:2+end]
		l.advance(end + 4)
	case isDigit(c) || (c == '-' || c == '+' || c == '.') && (isDigit(l.peekByte(1)) || l.peekByte(1) == '.' && isDigit(l.peekByte(2))):
		n := 0
		if c == '-' || c == '+' {
			n++
		}
		if rest[n] == '0' && n+1 < len(rest) && (rest[n+1] == 'x' || rest[n+1] == 'X') {
			n += 2
			for n < len(rest) && isHex(rest[n]) {
				n++
			}
		} else {
			for n < len(rest) && (isDigit(rest[n]) || rest[n] == '.') {
				n++
			}
			if n < len(rest) && (rest[n] == 'e' || rest[n] == 'E') {
				m := n + 1
				if m < len(rest) && (rest[m] == '+' || rest[m] == '-') {
					m++
				}
				if m < len(rest) && isDigit(rest[m]) {
					n = m
					for n < len(rest) && isDigit(rest[n]) {
						n++
					}
				}
			}
		}
		if n < len(rest) && isIdentChar(rest[n]) {
			// e.g. 3d (a duration) or 10ms: keep it as one token.
			for n < len(rest) && isIdentChar(rest[n]) {
				n++
			}
		}
		t.kind, t.text = tNumber, rest[:n]
		l.advance(n)
	case strings.IndexByte("()<>,;.={}[]:?+-*", c) >= 0:
		t.kind, t.text = tSymbol, string(c)
		l.advance(1)
	default:
		r, _ := utf8.DecodeRuneInString(rest)
		return t, l.errorf(t.line, t.col, "unexpected character %q", r)
	}
	return t, nil
}

// tokenize splits src into tokens, ending with one tEOF token.
func tokenize(file, src string) ([]token, error) {
	l := &lexer{file: file, src: src, line: 1, col: 1}
	var toks []token
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if t.kind == tEOF {
			return toks, nil
		}
	}
}
