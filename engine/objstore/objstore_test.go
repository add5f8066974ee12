package objstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cassmove/shadow/engine/objstore"
)

func TestOpenUnknownScheme(t *testing.T) {
	_, err := objstore.Open(context.Background(), "gs://bucket/x", objstore.Settings{})
	if !errors.Is(err, objstore.ErrBadURI) {
		t.Fatalf("gs:// = %v, want ErrBadURI", err)
	}
}

func TestJoinKey(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{[]string{"a", "b"}, "a/b"},
		{[]string{"", "a/", "/b/", ""}, "a/b"},
		{[]string{"prefix/", "node", "meta/manifest.json"}, "prefix/node/meta/manifest.json"},
		{nil, ""},
	} {
		if got := objstore.JoinKey(c.parts...); got != c.want {
			t.Errorf("JoinKey(%q) = %q, want %q", c.parts, got, c.want)
		}
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := objstore.Settings{}.WithDefaults()
	if s.Retry.MaxAttempts != 5 || s.Timeout == 0 || s.Concurrency == 0 || s.PartSize == 0 {
		t.Fatalf("defaults = %+v", s)
	}
	s = objstore.Settings{Retry: objstore.Retry{MaxAttempts: 2}}.WithDefaults()
	if s.Retry.MaxAttempts != 2 {
		t.Fatalf("explicit MaxAttempts overridden: %+v", s.Retry)
	}
}
