// Package cap reads and writes OASIS Common Alerting Protocol 1.2 documents
// and Atom feeds of them.
//
// It is the edge where warnings from other agencies (the meteorological
// bureau, the provincial platform) enter Alertcast and where ours leave it, so
// Parse treats its input as hostile: DOCTYPE and entity declarations are
// refused outright (no entity is ever expanded or fetched), documents are
// limited in size and depth, and every error names the element path that
// caused it, e.g. "alert/info[1]/area[0]/polygon[0]: not closed".
//
// The package holds no state and no database; its only I/O is Poller, which
// fetches upstream feeds over HTTP with a client the caller may supply. It
// never imports dispatch; the mapping between CAP and the warning domain
// lives in dispatch/capmap.go.
//
// Contents: Parse/ParseAll (read + validate), Alert.Validate, Alert.Marshal
// (CAP 1.2 out), Feed (Atom out), ParseFeed (Atom/RSS in), Poller (upstream
// polling with conditional GET), VerifySignature (XML-DSig on the original
// bytes), HTTPStatus (error → HTTP status).
//
// Import policy (what Parse accepts beyond the letter of the CAP 1.2 schema,
// and why):
//
//   - CAP 1.1 documents (namespace urn:oasis:names:tc:emergency:cap:1.1) are
//     accepted and mapped onto the 1.2 model; Alert.Version records "1.1".
//     1.1 is a subset of 1.2 except that a 1.1 <resource> may omit
//     <mimeType>; such resources get "application/octet-stream" so that the
//     alert can be re-exported as valid 1.2.
//   - CAP 1.0 (namespace http://www.incident.com/cap/1.0) is mapped the same
//     way: its "name=value" eventCode/parameter/geocode strings become
//     valueName/value pairs, certainty "Very Likely" becomes Likely (as CAP
//     1.1 did), the deprecated <password> is dropped. Any other namespace
//     is refused, naming the namespace found.
//   - An OASIS EDXL-DE 1.0 envelope is unwrapped: the CAP alerts in
//     contentObject/xmlContent/embeddedXMLContent (the NSW RFS and other
//     Australian feeds send CAP this way). Parse takes an envelope with
//     exactly one alert; ParseAll takes several, all valid or none. An
//     envelope with no CAP alert is refused.
//   - Update, Cancel, Ack and Error messages must carry <references>; an
//     empty <references/> is refused.
//   - XML digital signatures (xmldsig Signature elements after the info
//     blocks) are kept verbatim in Alert.Signatures; Parse does not verify
//     them and Marshal does not re-emit them (a re-serialised alert no longer
//     matches the signed bytes). VerifySignature checks a signature on the
//     original bytes (C14N / exclusive C14N, RSA with SHA-1/256/512) and
//     returns the signing key; whether that key is trusted for the sender
//     is the caller's decision (pin SignatureInfo.KeyFingerprint).
//   - Child elements may appear in any order (Marshal always writes the
//     schema's order); elements from foreign namespaces are skipped as
//     extensions; unknown elements in the CAP namespace are refused.
//   - Dates must carry a time zone. Besides CAP's own form
//     (2006-01-02T15:04:05+08:00, UTC written -00:00) the xs:dateTime
//     variants "Z" and fractional seconds are accepted on import, since they
//     are unambiguous; Marshal writes only CAP's form.
//   - An empty <polygon/> or <circle/> (the US NWS feeds emit them) is
//     ignored; a non-empty one must be well formed (a polygon closed, with at
//     least four points).
package cap
