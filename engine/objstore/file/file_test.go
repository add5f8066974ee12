package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cassmove/shadow/engine/objstore"
	"github.com/cassmove/shadow/engine/objstore/file"
	"github.com/cassmove/shadow/engine/objstore/storetest"
)

func TestConformance(t *testing.T) {
	rec := &storetest.Recorder{}
	st, err := objstore.Open(context.Background(), "file://"+t.TempDir(), objstore.Settings{Observer: rec.Observe})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, st, rec)
}

func TestOpenURI(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"file://host/x", "file://", "nope:///x", "/just/a/path", "::"} {
		if _, err := objstore.Open(ctx, bad, objstore.Settings{}); !errors.Is(err, objstore.ErrBadURI) {
			t.Errorf("Open(%q) = %v, want ErrBadURI", bad, err)
		}
	}
	dir := t.TempDir()
	st, err := objstore.Open(ctx, "file://"+dir, objstore.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if st.URI() != "file://"+dir {
		t.Errorf("URI = %s", st.URI())
	}
}

func TestMissingRootListsEmpty(t *testing.T) {
	st := file.New(filepath.Join(t.TempDir(), "none"), objstore.Settings{})
	objs, err := objstore.ListAll(context.Background(), st, "", "/")
	if err != nil || len(objs) != 0 {
		t.Fatalf("list of a missing folder = %v, %v", objs, err)
	}
}

func TestBadKeys(t *testing.T) {
	st := file.New(t.TempDir(), objstore.Settings{})
	ctx := context.Background()
	for _, k := range []string{"../x", "a/../../x", "/abs", "a/./b", ""} {
		if err := objstore.PutBytes(ctx, st, k, []byte("x")); err == nil {
			t.Errorf("put %q succeeded", k)
		}
	}
}

func TestEmptyFoldersAreNotListed(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755)
	st := file.New(dir, objstore.Settings{})
	objs, err := objstore.ListAll(context.Background(), st, "", "/")
	if err != nil || len(objs) != 0 {
		t.Fatalf("list = %v, %v; want nothing", objs, err)
	}
}
