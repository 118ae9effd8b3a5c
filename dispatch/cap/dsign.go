package cap

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sign adds an enveloped XML-DSig signature to a CAP document, the form
// VerifySignature checks: exclusive C14N, SHA-256 digest, RSA PKCS#1 v1.5
// with SHA-256, the certificate in KeyInfo. The document must be UTF-8 and
// unsigned; the signature goes last inside the root element, and nothing
// else in the document changes. Upstream agencies sign this way; Alertcast
// uses it to test the trust it places in them (a CAP rule's cert).
func Sign(doc []byte, key *rsa.PrivateKey, cert *x509.Certificate) ([]byte, error) {
	if key == nil || cert == nil {
		return nil, errors.New("cap: sign: key and certificate are required")
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("cap: sign: the certificate is not for this key")
	}
	root, err := buildTree(doc)
	if err != nil {
		return nil, fmt.Errorf("cap: sign: %w", err)
	}
	top := root.documentElement()
	if top == nil {
		return nil, fmt.Errorf("cap: sign: %w: no root element", ErrNotWellFormed)
	}
	for _, c := range top.children {
		if c.kind == nodeElement && c.localName() == "Signature" {
			return nil, errors.New("cap: sign: the document is already signed")
		}
	}
	canon, err := canonicalize(root, algExcC14N, nil)
	if err != nil {
		return nil, fmt.Errorf("cap: sign: %w", err)
	}
	digest := sha256.Sum256(canon)
	sig := `<Signature xmlns="` + NamespaceXMLDSig + `"><SignedInfo>` +
		`<CanonicalizationMethod Algorithm="` + algExcC14N + `"/>` +
		`<SignatureMethod Algorithm="` + algRSASHA256 + `"/>` +
		`<Reference URI=""><Transforms><Transform Algorithm="` + algEnveloped + `"/><Transform Algorithm="` + algExcC14N + `"/></Transforms>` +
		`<DigestMethod Algorithm="` + algSHA256 + `"/><DigestValue>` + base64.StdEncoding.EncodeToString(digest[:]) + `</DigestValue></Reference>` +
		`</SignedInfo><SignatureValue></SignatureValue><KeyInfo><X509Data><X509Certificate>` +
		base64.StdEncoding.EncodeToString(cert.Raw) + `</X509Certificate></X509Data></KeyInfo></Signature>`
	// The root's end tag is the last end tag of the document.
	end := bytes.LastIndex(doc, []byte("</"))
	if end < 0 {
		return nil, fmt.Errorf("cap: sign: %w: no end tag", ErrNotWellFormed)
	}
	out := make([]byte, 0, len(doc)+len(sig)+400)
	out = append(append(append(out, doc[:end]...), sig...), doc[end:]...)

	// Sign SignedInfo as it stands in the document (its canonical form
	// depends on the namespaces in scope there).
	signed, err := buildTree(out)
	if err != nil {
		return nil, fmt.Errorf("cap: sign: %w", err)
	}
	var si *xnode
	for _, c := range signed.documentElement().children {
		if c.kind == nodeElement && c.localName() == "Signature" {
			si = c.child("SignedInfo")
		}
	}
	if si == nil {
		return nil, errors.New("cap: sign: the signature was not placed in the root element")
	}
	canonSI, err := canonicalize(si, algExcC14N, nil)
	if err != nil {
		return nil, fmt.Errorf("cap: sign: %w", err)
	}
	h := sha256.Sum256(canonSI)
	value, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return nil, fmt.Errorf("cap: sign: %w", err)
	}
	return bytes.Replace(out, []byte("<SignatureValue></SignatureValue>"),
		[]byte("<SignatureValue>"+base64.StdEncoding.EncodeToString(value)+"</SignatureValue>"), 1), nil
}
