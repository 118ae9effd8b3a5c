package alertd

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

const shufuCSV = `code,name,level,parent_code,name_ug
653121,疏附县,county,653100,
653121100,托克扎克镇,township,653121,
653121100001,幸福路社区,village,653121100,
`

// Another county is imported once, usable at once, refused twice, named by
// line when broken, and loaded again after a restart.
func TestRegionsImport(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "r.db")
	s := startServer(t, func(c *Config) { c.DB = db })
	out := mustCall(t, s.Base, "POST", "/api/v1/regions/import", testAdminToken, shufuCSV, 201)
	if c := out["counties"].([]any); len(c) != 1 || c[0].(map[string]any)["code"] != "653121" {
		t.Fatalf("import: %v", out)
	}
	st, e := call(t, s.Base, "POST", "/api/v1/regions/import", testAdminToken, shufuCSV)
	if st != 422 && st != 409 {
		t.Fatalf("second import: %d %v", st, e)
	}
	st, e = call(t, s.Base, "POST", "/api/v1/regions/import", testAdminToken, "code,name,level,parent_code\n653123,x,county,653100\n65312310,y,township,653123\n")
	if st != 422 || !strings.Contains(e["error"].(map[string]any)["message"].(string), "line 3") {
		t.Fatalf("broken file: %d %v", st, e)
	}
	op := addUser(t, s.Base, "op", "operator")
	body := strings.Replace(string(exampleBody(t)), `"codes":["653122100","653122201"]`, `"codes":["653121100001"]`, 1)
	body = strings.Replace(body, `"orange"`, `"blue"`, 1)
	mustCall(t, s.Base, "POST", "/api/v1/alerts", op, body, 201)

	_ = s.Shutdown()
	cfg := s.cfg
	cfg.Listen = "127.0.0.1:0"
	s2, err := Start(context.Background(), cfg, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	if _, ok := s2.popIndex.Tree().Region("653121100001"); !ok {
		t.Fatal("imported county not loaded after restart")
	}
}
