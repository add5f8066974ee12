package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
)

// printJSON writes exactly one JSON object (contracts §5).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// jsonList is the shape of every list in --json output.
type jsonList[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func newJSONList[T any](items []T, total int) jsonList[T] {
	if items == nil {
		items = []T{}
	}
	return jsonList[T]{Items: items, Total: total}
}

// table prints aligned columns, truncating cells so a row fits the terminal
// when stdout is one.
type table struct {
	w       io.Writer
	headers []string
	rows    [][]string
}

func newTable(w io.Writer, headers ...string) *table { return &table{w: w, headers: headers} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) flush() error {
	width := 0
	if f, ok := t.w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = w
		}
	}
	if width > 0 && len(t.headers) > 0 {
		// Give every column at least its header, then share what is left.
		budget := width - 2*(len(t.headers)-1)
		maxw := make([]int, len(t.headers))
		for i, h := range t.headers {
			maxw[i] = len(h)
		}
		for _, r := range t.rows {
			for i, c := range r {
				if i < len(maxw) && len(c) > maxw[i] {
					maxw[i] = len(c)
				}
			}
		}
		total := 0
		for _, m := range maxw {
			total += m
		}
		if total > budget {
			// Shrink the widest column until the row fits.
			for total > budget {
				wi := 0
				for i := range maxw {
					if maxw[i] > maxw[wi] {
						wi = i
					}
				}
				if maxw[wi] <= len(t.headers[wi]) || maxw[wi] <= 8 {
					break
				}
				maxw[wi]--
				total--
			}
			for _, r := range t.rows {
				for i := range r {
					if i < len(maxw) && len(r[i]) > maxw[i] {
						r[i] = r[i][:maxw[i]-1] + "…"
					}
				}
			}
		}
	}
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	if len(t.headers) > 0 {
		fmt.Fprintln(tw, strings.Join(t.headers, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// progress draws a one-line progress bar on stderr when stderr is a terminal,
// and nothing otherwise (logs and CI output stay clean).
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	on     bool
	label  string
	total  int64
	done   int64
	unit   string
	start  time.Time
	last   time.Time
	closed bool
}

func newProgress(w io.Writer, label, unit string, total int64) *progress {
	p := &progress{w: w, label: label, unit: unit, total: total, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.on = true
	}
	return p
}

// Add records n more units done.
func (p *progress) Add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if !p.on || p.closed {
		return
	}
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond {
		p.last = now
		p.draw()
	}
}

// SetTotal changes the expected total (0 = unknown).
func (p *progress) SetTotal(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total = n
	p.mu.Unlock()
}

// Stage changes the label.
func (p *progress) Stage(label string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.label = label
	if p.on && !p.closed {
		p.draw()
	}
	p.mu.Unlock()
}

func (p *progress) draw() {
	el := time.Since(p.start).Round(time.Second)
	if p.total > 0 {
		frac := float64(p.done) / float64(p.total)
		if frac > 1 {
			frac = 1
		}
		const n = 30
		filled := int(frac * n)
		fmt.Fprintf(p.w, "\r%-16s [%s%s] %5.1f%% %d/%d %s %s ", p.label,
			strings.Repeat("=", filled), strings.Repeat(" ", n-filled), 100*frac, p.done, p.total, p.unit, el)
	} else {
		fmt.Fprintf(p.w, "\r%-16s %d %s %s ", p.label, p.done, p.unit, el)
	}
}

// Done clears the bar.
func (p *progress) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && !p.closed {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 100))
	}
	p.closed = true
}
