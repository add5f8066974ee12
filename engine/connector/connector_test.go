package connector

import (
	"errors"
	"slices"
	"testing"
)

func TestRegistry(t *testing.T) {
	if !slices.Contains(Names(), "raw") {
		t.Fatalf("raw is not registered: %v", Names())
	}
	c, err := New("raw", nil)
	if err != nil || c.Name() != "raw" {
		t.Fatalf("New(raw) = %v, %v", c, err)
	}
	if _, err := New("nosuch", nil); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown connector: got %v, want ErrUnknown", err)
	}
	if _, err := New("raw", map[string]any{"chunk_table": "x"}); !errors.Is(err, ErrOptions) {
		t.Fatalf("raw with options: got %v, want ErrOptions", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("registering raw twice did not panic")
			}
		}()
		Register("raw", nil)
	}()
}
