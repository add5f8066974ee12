package diff

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadRule marks a normalization rule that cannot apply: a malformed
// value, or a rule on a column of the wrong kind.
var ErrBadRule = errors.New("bad normalization rule")

// ErrUnknownColumn marks a key or rule column that exists on neither side.
var ErrUnknownColumn = errors.New("unknown column")

// Rules are the normalization rules of contracts §2. Ignore, Truncate,
// EmptyAsNull and Round apply before hashing, so digests stay exact;
// Tolerance applies after pairing changed rows by key.
type Rules struct {
	Ignore      []string          // columns dropped on both sides
	Truncate    map[string]string // column → "ms" or "s": timestamps (and times) rounded down
	EmptyAsNull []string          // string or binary columns whose '' becomes NULL
	Round       map[string]int    // column → decimal places, for floats and decimals
	Tolerance   map[string]string // column → EPS: a number for numeric columns, a Go duration for date/time/timestamp columns
}

// Rule is one rule in force, as the report lists it.
type Rule struct {
	Rule   string `json:"rule"` // ignore, truncate, empty_as_null, round, tolerance
	Column string `json:"column"`
	Value  string `json:"value,omitempty"`
}

// List returns the rules in force in a stable order.
func (r Rules) List() []Rule {
	var out []Rule
	for _, c := range r.Ignore {
		out = append(out, Rule{Rule: "ignore", Column: c})
	}
	for c, u := range r.Truncate {
		out = append(out, Rule{Rule: "truncate", Column: c, Value: u})
	}
	for _, c := range r.EmptyAsNull {
		out = append(out, Rule{Rule: "empty_as_null", Column: c})
	}
	for c, n := range r.Round {
		out = append(out, Rule{Rule: "round", Column: c, Value: strconv.Itoa(n)})
	}
	for c, e := range r.Tolerance {
		out = append(out, Rule{Rule: "tolerance", Column: c, Value: e})
	}
	order := map[string]int{"ignore": 0, "truncate": 1, "empty_as_null": 2, "round": 3, "tolerance": 4}
	slices.SortFunc(out, func(a, b Rule) int {
		if a.Rule != b.Rule {
			return order[a.Rule] - order[b.Rule]
		}
		return strings.Compare(a.Column, b.Column)
	})
	return out
}

// ParseAssignments parses the COL=VALUE lists of --truncate, --round and
// --tolerance; each item may itself be comma-separated.
func ParseAssignments(flag string, items []string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range items {
		for _, a := range strings.Split(item, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			col, val, ok := strings.Cut(a, "=")
			if !ok || col == "" || val == "" {
				return nil, fmt.Errorf("%w: --%s %q: want COL=VALUE", ErrBadRule, flag, a)
			}
			if _, dup := out[col]; dup {
				return nil, fmt.Errorf("%w: --%s names column %q twice", ErrBadRule, flag, col)
			}
			out[col] = val
		}
	}
	return out, nil
}

// ParseRound parses --round COL=N items.
func ParseRound(items []string) (map[string]int, error) {
	a, err := ParseAssignments("round", items)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for c, v := range a {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 30 {
			return nil, fmt.Errorf("%w: --round %s=%s: want a number of decimal places from 0 to 30", ErrBadRule, c, v)
		}
		out[c] = n
	}
	return out, nil
}

// colRule is the compiled rule set of one column.
type colRule struct {
	truncate  int64 // divisor in microseconds (1000 or 1e6), 0 for none
	round     int   // decimal places, -1 for none
	emptyNull bool
	tol       *tolerance
}

var noRule = colRule{round: -1}

type tolerance struct {
	text   string
	num    *big.Rat // integer and decimal columns
	f      float64  // float columns
	micros int64    // timestamp, time, date columns
}

// compileRules checks every rule against the compared columns and returns
// the per-column rules, indexed like cols.
func compileRules(r Rules, cols []column) ([]colRule, error) {
	idx := map[string]int{}
	for i, c := range cols {
		idx[c.name] = i
	}
	out := make([]colRule, len(cols))
	for i := range out {
		out[i] = noRule
	}
	find := func(flag, c string) (int, error) {
		i, ok := idx[c]
		if !ok {
			return 0, fmt.Errorf("%w: --%s column %q is not a compared column", ErrUnknownColumn, flag, c)
		}
		return i, nil
	}
	for c, u := range r.Truncate {
		i, err := find("truncate", c)
		if err != nil {
			return nil, err
		}
		if k := cols[i].typ.kind; k != KindTimestamp && k != KindTime {
			return nil, fmt.Errorf("%w: --truncate %s=%s: column %q is %s, want timestamp or time", ErrBadRule, c, u, c, k)
		}
		switch u {
		case "ms":
			out[i].truncate = 1000
		case "s":
			out[i].truncate = 1_000_000
		default:
			return nil, fmt.Errorf("%w: --truncate %s=%s: want ms or s", ErrBadRule, c, u)
		}
	}
	for _, c := range r.EmptyAsNull {
		i, err := find("empty-as-null", c)
		if err != nil {
			return nil, err
		}
		if k := cols[i].typ.kind; k != KindString && k != KindBinary {
			return nil, fmt.Errorf("%w: --empty-as-null %s: column %q is %s, want string or binary", ErrBadRule, c, c, k)
		}
		out[i].emptyNull = true
	}
	for c, n := range r.Round {
		i, err := find("round", c)
		if err != nil {
			return nil, err
		}
		if k := cols[i].typ.kind; k != KindFloat && k != KindDecimal {
			return nil, fmt.Errorf("%w: --round %s=%d: column %q is %s, want float or decimal", ErrBadRule, c, n, c, k)
		}
		if n < 0 || n > 30 {
			return nil, fmt.Errorf("%w: --round %s=%d: want 0 to 30 decimal places", ErrBadRule, c, n)
		}
		out[i].round = n
	}
	for c, e := range r.Tolerance {
		i, err := find("tolerance", c)
		if err != nil {
			return nil, err
		}
		t := &tolerance{text: e}
		switch k := cols[i].typ.kind; k {
		case KindInteger, KindDecimal:
			rat, ok := new(big.Rat).SetString(e)
			if !ok || rat.Sign() < 0 {
				return nil, fmt.Errorf("%w: --tolerance %s=%s: want a non-negative number", ErrBadRule, c, e)
			}
			t.num = rat
		case KindFloat:
			f, err := strconv.ParseFloat(e, 64)
			if err != nil || f < 0 || f != f {
				return nil, fmt.Errorf("%w: --tolerance %s=%s: want a non-negative number", ErrBadRule, c, e)
			}
			t.f = f
		case KindTimestamp, KindTime, KindDate:
			d, err := time.ParseDuration(e)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("%w: --tolerance %s=%s: want a non-negative Go duration such as 1ms", ErrBadRule, c, e)
			}
			t.micros = d.Microseconds()
		default:
			return nil, fmt.Errorf("%w: --tolerance %s=%s: column %q is %s, want a number, date, time or timestamp", ErrBadRule, c, e, c, k)
		}
		out[i].tol = t
	}
	return out, nil
}
