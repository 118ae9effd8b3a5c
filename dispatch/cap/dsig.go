package cap

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
)

// ErrSignature: a signature is absent, unsupported or does not verify.
var ErrSignature = errors.New("XML signature")

// Signature algorithms VerifySignature understands.
const (
	algC14N             = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	algC14NComments     = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
	algExcC14N          = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algExcC14NComments  = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	algEnveloped        = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	algSHA1             = "http://www.w3.org/2000/09/xmldsig#sha1"
	algSHA256           = "http://www.w3.org/2001/04/xmlenc#sha256"
	algSHA512           = "http://www.w3.org/2001/04/xmlenc#sha512"
	algRSASHA1          = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	algRSASHA256        = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	algRSASHA512        = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	namespaceXMLPrefix  = "http://www.w3.org/XML/1998/namespace"
	namespaceXMLNSAttrs = "xmlns"
)

// SignatureInfo describes a verified enveloped signature.
type SignatureInfo struct {
	// PublicKey verified the signature. It comes from the document itself
	// (KeyValue or X509Certificate), so a valid signature proves only that
	// the document is unchanged since someone holding the matching private
	// key signed it: the caller must check that the key (or Certificate)
	// is one it trusts for the alert's sender.
	PublicKey   crypto.PublicKey
	Certificate *x509.Certificate // nil when the key came as a KeyValue
	Method      string            // SignatureMethod algorithm URI
}

// VerifySignature checks the enveloped XML-DSig signature of a CAP document
// (the raw bytes as received, before any re-serialisation): the reference
// digest over the document without the signature, and the RSA signature over
// the canonical SignedInfo. Supported: inclusive and exclusive C14N 1.0,
// SHA-1/256/512 digests, RSA PKCS#1 v1.5 with SHA-1/256/512. The same
// hostile-input rules as Parse apply (no DOCTYPE, size and depth limits).
func VerifySignature(doc []byte) (*SignatureInfo, error) {
	if len(doc) > MaxDocumentSize {
		return nil, fmt.Errorf("cap: %w: more than %d bytes", ErrTooLarge, MaxDocumentSize)
	}
	src, err := toUTF8(doc)
	if err != nil {
		return nil, fmt.Errorf("cap: %w", err)
	}
	root, err := buildTree(src)
	if err != nil {
		return nil, fmt.Errorf("cap: %w", err)
	}
	top := root.documentElement()
	if top == nil {
		return nil, fmt.Errorf("cap: %w: no root element", ErrNotWellFormed)
	}
	if top.localName() == "EDXLDistribution" {
		return nil, fmt.Errorf("cap: %w: signatures inside EDXL-DE envelopes are not supported", ErrSignature)
	}
	var sig *xnode
	for _, c := range top.children {
		if c.kind == nodeElement && c.localName() == "Signature" && c.uri() == NamespaceXMLDSig {
			if sig != nil {
				return nil, fmt.Errorf("cap: %w: more than one Signature", ErrSignature)
			}
			sig = c
		}
	}
	if sig == nil {
		return nil, fmt.Errorf("cap: %w: the document is not signed", ErrSignature)
	}
	fail := func(format string, args ...any) (*SignatureInfo, error) {
		return nil, fmt.Errorf("cap: %w: %s", ErrSignature, fmt.Sprintf(format, args...))
	}
	signedInfo := sig.child("SignedInfo")
	if signedInfo == nil {
		return fail("no SignedInfo")
	}
	c14nAlg := signedInfo.child("CanonicalizationMethod").attr("Algorithm")
	sigAlg := signedInfo.child("SignatureMethod").attr("Algorithm")
	refs := signedInfo.childrenNamed("Reference")
	if len(refs) != 1 {
		return fail("want exactly one Reference, found %d", len(refs))
	}
	ref := refs[0]
	if uri := ref.attr("URI"); uri != "" {
		return fail("Reference URI %q: only the whole document (URI=\"\") is supported", uri)
	}
	docAlg := algC14N
	enveloped := false
	if tr := ref.child("Transforms"); tr != nil {
		for _, t := range tr.childrenNamed("Transform") {
			switch a := t.attr("Algorithm"); a {
			case algEnveloped:
				enveloped = true
			case algC14N, algC14NComments, algExcC14N, algExcC14NComments:
				docAlg = a
			default:
				return fail("unsupported transform %q", a)
			}
		}
	}
	if !enveloped {
		return fail("the reference does not use the enveloped-signature transform")
	}
	// A same-document reference drops comments whatever the transform says.
	docAlg = strings.TrimSuffix(docAlg, "#WithComments")
	digestAlg := ref.child("DigestMethod").attr("Algorithm")
	want, err := base64.StdEncoding.DecodeString(compact(ref.child("DigestValue").textContent()))
	if err != nil {
		return fail("DigestValue is not base64")
	}
	h, err := hashFor(digestAlg)
	if err != nil {
		return fail("%v", err)
	}
	canonDoc, err := canonicalize(root, docAlg, sig)
	if err != nil {
		return fail("%v", err)
	}
	hh := h.New()
	hh.Write(canonDoc)
	if subtle.ConstantTimeCompare(hh.Sum(nil), want) != 1 {
		return fail("digest mismatch: the document was changed after signing")
	}

	canonSI, err := canonicalize(signedInfo, c14nAlg, nil)
	if err != nil {
		return fail("%v", err)
	}
	sigValue, err := base64.StdEncoding.DecodeString(compact(sig.child("SignatureValue").textContent()))
	if err != nil {
		return fail("SignatureValue is not base64")
	}
	info := &SignatureInfo{Method: sigAlg}
	if err := keyFrom(sig.child("KeyInfo"), info); err != nil {
		return fail("%v", err)
	}
	var sh crypto.Hash
	switch sigAlg {
	case algRSASHA1:
		sh = crypto.SHA1
	case algRSASHA256:
		sh = crypto.SHA256
	case algRSASHA512:
		sh = crypto.SHA512
	default:
		return fail("unsupported SignatureMethod %q", sigAlg)
	}
	pub, ok := info.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fail("the key is not an RSA key")
	}
	sum := sh.New()
	sum.Write(canonSI)
	if err := rsa.VerifyPKCS1v15(pub, sh, sum.Sum(nil), sigValue); err != nil {
		return fail("signature does not verify: %v", err)
	}
	return info, nil
}

// KeyFingerprint is the hex SHA-256 of the signing key in PKIX (DER) form:
// the value to pin per trusted sender in configuration.
func (s *SignatureInfo) KeyFingerprint() (string, error) {
	der, err := x509.MarshalPKIXPublicKey(s.PublicKey)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func compact(s string) string { return strings.Join(strings.Fields(s), "") }

func hashFor(alg string) (crypto.Hash, error) {
	switch alg {
	case algSHA1:
		return crypto.SHA1, nil
	case algSHA256:
		return crypto.SHA256, nil
	case algSHA512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("unsupported DigestMethod %q", alg)
}

var _ = []any{sha1.New, sha512.New} // link the hash implementations crypto.Hash uses

func keyFrom(ki *xnode, info *SignatureInfo) error {
	if ki == nil {
		return errors.New("no KeyInfo: the signing key is unknown")
	}
	if xd := ki.child("X509Data"); xd != nil {
		if c := xd.child("X509Certificate"); c != nil {
			der, err := base64.StdEncoding.DecodeString(compact(c.textContent()))
			if err != nil {
				return errors.New("X509Certificate is not base64")
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("X509Certificate: %v", err)
			}
			info.Certificate, info.PublicKey = cert, cert.PublicKey
			return nil
		}
	}
	if kv := ki.child("KeyValue"); kv != nil {
		if rk := kv.child("RSAKeyValue"); rk != nil {
			n, err1 := base64.StdEncoding.DecodeString(compact(rk.child("Modulus").textContent()))
			e, err2 := base64.StdEncoding.DecodeString(compact(rk.child("Exponent").textContent()))
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return errors.New("RSAKeyValue is malformed")
			}
			if len(n) > 8192/8+1 {
				return errors.New("RSAKeyValue modulus longer than 8192 bits")
			}
			info.PublicKey = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			return nil
		}
	}
	return errors.New("KeyInfo has neither an X509Certificate nor an RSAKeyValue")
}

// ---- a minimal DOM that keeps prefixes, for canonicalization ----

const (
	nodeDocument = iota
	nodeElement
	nodeText
	nodeComment
	nodePI
)

type xnode struct {
	kind     int
	name     xml.Name   // raw: Space is the prefix
	attrs    []xml.Attr // raw, namespace declarations included
	children []*xnode
	parent   *xnode
	text     string // text, comment; PI instruction
	target   string // PI target
}

func buildTree(src []byte) (*xnode, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	doc := &xnode{kind: nodeDocument}
	cur := doc
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			if cur != doc {
				return nil, fmt.Errorf("%w: unexpected end of document", ErrNotWellFormed)
			}
			return doc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotWellFormed, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, fmt.Errorf("%w (found <!%s>)", ErrDoctype, truncate(string(t), 40))
		case xml.StartElement:
			depth++
			if depth > MaxDepth {
				return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
			}
			n := &xnode{kind: nodeElement, name: t.Name, attrs: append([]xml.Attr(nil), t.Attr...), parent: cur}
			cur.children = append(cur.children, n)
			cur = n
		case xml.EndElement:
			if cur == doc || cur.name != t.Name {
				return nil, fmt.Errorf("%w: unexpected </%s>", ErrNotWellFormed, qname(t.Name))
			}
			depth--
			cur = cur.parent
		case xml.CharData:
			if cur == doc {
				continue // whitespace outside the root: not part of the canonical form
			}
			if last := len(cur.children) - 1; last >= 0 && cur.children[last].kind == nodeText {
				cur.children[last].text += string(t)
			} else {
				cur.children = append(cur.children, &xnode{kind: nodeText, text: string(t), parent: cur})
			}
		case xml.Comment:
			cur.children = append(cur.children, &xnode{kind: nodeComment, text: string(t), parent: cur})
		case xml.ProcInst:
			if t.Target == "xml" {
				continue
			}
			cur.children = append(cur.children, &xnode{kind: nodePI, target: t.Target, text: string(t.Inst), parent: cur})
		}
	}
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func (n *xnode) documentElement() *xnode {
	for _, c := range n.children {
		if c.kind == nodeElement {
			return c
		}
	}
	return nil
}

func (n *xnode) localName() string { return n.name.Local }

// lookup resolves a prefix ("" for the default namespace) in scope at n.
func (n *xnode) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return namespaceXMLPrefix, true
	}
	for e := n; e != nil && e.kind == nodeElement; e = e.parent {
		for _, a := range e.attrs {
			if (prefix == "" && a.Name.Space == "" && a.Name.Local == namespaceXMLNSAttrs) ||
				(prefix != "" && a.Name.Space == namespaceXMLNSAttrs && a.Name.Local == prefix) {
				return a.Value, true
			}
		}
	}
	return "", prefix == ""
}

func (n *xnode) uri() string {
	u, _ := n.lookup(n.name.Space)
	return u
}

// inScope returns every namespace binding in scope at n (prefix → URI),
// without the xml prefix; an empty default namespace is left out.
func (n *xnode) inScope() map[string]string {
	var chain []*xnode
	for e := n; e != nil && e.kind == nodeElement; e = e.parent {
		chain = append(chain, e)
	}
	m := map[string]string{}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].attrs {
			switch {
			case a.Name.Space == "" && a.Name.Local == namespaceXMLNSAttrs:
				m[""] = a.Value
			case a.Name.Space == namespaceXMLNSAttrs:
				m[a.Name.Local] = a.Value
			}
		}
	}
	if m[""] == "" {
		delete(m, "")
	}
	return m
}

func (n *xnode) child(local string) *xnode {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.kind == nodeElement && c.name.Local == local && c.uri() == NamespaceXMLDSig {
			return c
		}
	}
	return nil
}

func (n *xnode) childrenNamed(local string) []*xnode {
	var out []*xnode
	for _, c := range n.children {
		if c.kind == nodeElement && c.name.Local == local && c.uri() == NamespaceXMLDSig {
			out = append(out, c)
		}
	}
	return out
}

func (n *xnode) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (n *xnode) textContent() string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*xnode)
	walk = func(x *xnode) {
		for _, c := range x.children {
			switch c.kind {
			case nodeText:
				b.WriteString(c.text)
			case nodeElement:
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

// ---- Canonical XML 1.0 and Exclusive XML Canonicalization 1.0 ----

type canon struct {
	exclusive, comments bool
	skip                *xnode
	buf                 bytes.Buffer
}

// canonicalize writes n (a document or an element apex) in canonical form;
// skip (the enveloped signature) is left out.
func canonicalize(n *xnode, alg string, skip *xnode) ([]byte, error) {
	c := &canon{skip: skip}
	switch alg {
	case algC14N:
	case algC14NComments:
		c.comments = true
	case algExcC14N:
		c.exclusive = true
	case algExcC14NComments:
		c.exclusive, c.comments = true, true
	default:
		return nil, fmt.Errorf("unsupported canonicalization %q", alg)
	}
	if n.kind == nodeDocument {
		seenRoot := false
		for _, ch := range n.children {
			switch ch.kind {
			case nodeElement:
				c.element(ch, map[string]string{})
				seenRoot = true
			case nodeComment, nodePI:
				if ch.kind == nodeComment && !c.comments {
					continue
				}
				if seenRoot {
					c.buf.WriteByte('\n')
				}
				c.misc(ch)
				if !seenRoot {
					c.buf.WriteByte('\n')
				}
			}
		}
		return c.buf.Bytes(), nil
	}
	c.element(n, map[string]string{})
	return c.buf.Bytes(), nil
}

func (c *canon) misc(n *xnode) {
	if n.kind == nodeComment {
		c.buf.WriteString("<!--" + n.text + "-->")
		return
	}
	c.buf.WriteString("<?" + n.target)
	if n.text != "" {
		c.buf.WriteString(" " + n.text)
	}
	c.buf.WriteString("?>")
}

// element writes n; rendered holds the namespace bindings already written
// by output ancestors.
func (c *canon) element(n *xnode, rendered map[string]string) {
	if n == c.skip {
		return
	}
	scope := n.inScope()
	// Which namespace bindings this element must declare.
	var candidates []string
	if c.exclusive {
		used := map[string]bool{n.name.Space: true}
		for _, a := range n.attrs {
			if a.Name.Space != "" && a.Name.Space != namespaceXMLNSAttrs && a.Name.Space != "xml" {
				used[a.Name.Space] = true
			}
		}
		for p := range used {
			candidates = append(candidates, p)
		}
	} else {
		for p := range scope {
			candidates = append(candidates, p)
		}
		if _, ok := rendered[""]; ok {
			candidates = append(candidates, "") // may need xmlns="" to undo an inherited default
		}
	}
	next := make(map[string]string, len(rendered)+2)
	for k, v := range rendered {
		next[k] = v
	}
	type decl struct{ prefix, uri string }
	var decls []decl
	seen := map[string]bool{}
	for _, p := range candidates {
		if seen[p] {
			continue
		}
		seen[p] = true
		uri := scope[p]
		prev, had := rendered[p]
		switch {
		case p == "" && uri == "":
			if had && prev != "" {
				decls = append(decls, decl{"", ""})
				next[""] = ""
			}
		case !had || prev != uri:
			decls = append(decls, decl{p, uri})
			next[p] = uri
		}
	}
	sort.Slice(decls, func(i, j int) bool { return decls[i].prefix < decls[j].prefix })

	type attr struct{ uri, local, qn, value string }
	var attrs []attr
	for _, a := range n.attrs {
		if (a.Name.Space == "" && a.Name.Local == namespaceXMLNSAttrs) || a.Name.Space == namespaceXMLNSAttrs {
			continue
		}
		uri := ""
		if a.Name.Space != "" {
			uri, _ = n.lookup(a.Name.Space)
		}
		attrs = append(attrs, attr{uri, a.Name.Local, qname(a.Name), a.Value})
	}
	sort.Slice(attrs, func(i, j int) bool {
		if attrs[i].uri != attrs[j].uri {
			return attrs[i].uri < attrs[j].uri
		}
		return attrs[i].local < attrs[j].local
	})

	c.buf.WriteString("<" + qname(n.name))
	for _, d := range decls {
		if d.prefix == "" {
			c.buf.WriteString(` xmlns="`)
		} else {
			c.buf.WriteString(` xmlns:` + d.prefix + `="`)
		}
		c.attrValue(d.uri)
		c.buf.WriteByte('"')
	}
	for _, a := range attrs {
		c.buf.WriteString(" " + a.qn + `="`)
		c.attrValue(a.value)
		c.buf.WriteByte('"')
	}
	c.buf.WriteByte('>')
	for _, ch := range n.children {
		switch ch.kind {
		case nodeElement:
			c.element(ch, next)
		case nodeText:
			c.textValue(ch.text)
		case nodeComment:
			if c.comments {
				c.misc(ch)
			}
		case nodePI:
			c.misc(ch)
		}
	}
	c.buf.WriteString("</" + qname(n.name) + ">")
}

// The escapes of Canonical XML 1.0 (§2.3): text and attribute values
// escape different characters.
var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")
)

func (c *canon) textValue(s string) { _, _ = textEscaper.WriteString(&c.buf, s) }

func (c *canon) attrValue(s string) { _, _ = attrEscaper.WriteString(&c.buf, s) }
