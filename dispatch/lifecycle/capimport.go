package lifecycle

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/cap"
	"github.com/alertcast/alertcast/warning"
)

// CAPRule decides what happens to an imported CAP warning. Rules are tried
// in order; the first that matches wins. No match: review.
type CAPRule struct {
	Name string `yaml:"name"`
	// Sender is a glob on the CAP <sender> ("*" or empty: any).
	Sender string `yaml:"sender"`
	// Events limits the rule to these event codes (empty: any).
	Events []string `yaml:"events"`
	// MinLevel and MaxLevel bound the warning level (empty: any).
	MinLevel string `yaml:"min_level"`
	MaxLevel string `yaml:"max_level"`
	// Mode is "auto" (issued at once; county platforms promise ≤ 1 minute)
	// or "review" (pending: an approver checks and issues it; ≤ 5 minutes).
	Mode string `yaml:"mode"`
	// Channels the warning goes out on; default speaker, sms, websocket.
	Channels []string `yaml:"channels"`
	// Cert authenticates the sender for mode auto: an X.509 certificate in
	// PEM, inline or the path of a PEM file, whose key must have made the
	// document's enveloped XML signature. Without it (or when the document
	// is unsigned or signed by another key), auto applies only to documents
	// polled from a feed configured in cap.poll; any other document
	// matching the rule waits for review, and the result says why.
	Cert string `yaml:"cert"`
}

// Certificate loads the rule's certificate; nil without one.
func (r CAPRule) Certificate() (*x509.Certificate, error) {
	if strings.TrimSpace(r.Cert) == "" {
		return nil, nil
	}
	data := []byte(r.Cert)
	if !strings.Contains(r.Cert, "-----BEGIN") {
		b, err := os.ReadFile(r.Cert)
		if err != nil {
			return nil, fmt.Errorf("read certificate: %w", err)
		}
		data = b
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM CERTIFICATE block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// authenticate says whether the document's sender is proven for rule: the
// document came from a configured feed (origin OriginCAPPoll), or its XML
// signature verifies with the key of the rule's certificate. It returns
// the origin to record and the reason, either way.
func (r CAPRule) authenticate(raw []byte, origin dispatch.Origin, from string) (dispatch.Origin, bool, string) {
	if origin == dispatch.OriginCAPPoll {
		return origin, true, "polled from the configured feed " + from
	}
	cert, err := r.Certificate()
	if err != nil {
		return dispatch.OriginCAPHuman, false, fmt.Sprintf("rule %s: certificate unusable: %v", r.Name, err)
	}
	if cert == nil {
		return dispatch.OriginCAPHuman, false, fmt.Sprintf("rule %s has no certificate and the document was not polled from a feed in cap.poll", r.Name)
	}
	info, err := cap.VerifySignature(raw)
	if err != nil {
		return dispatch.OriginCAPHuman, false, fmt.Sprintf("not authenticated for rule %s: %v", r.Name, err)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(info.PublicKey) {
		return dispatch.OriginCAPHuman, false, fmt.Sprintf("not authenticated for rule %s: signed with a key that is not the rule's certificate (%s)", r.Name, cert.Subject.CommonName)
	}
	return dispatch.OriginCAPSigned, true, fmt.Sprintf("XML signature verified against rule %s's certificate (%s)", r.Name, cert.Subject.CommonName)
}

func (r CAPRule) matches(sender string, a *dispatch.Alert) bool {
	if r.Sender != "" && r.Sender != "*" {
		if ok, _ := path.Match(r.Sender, sender); !ok {
			return false
		}
	}
	if len(r.Events) > 0 && !slices.Contains(r.Events, a.Event.String()) {
		return false
	}
	if l, err := warning.ParseLevel(r.MinLevel); err == nil && a.Level < l {
		return false
	}
	if l, err := warning.ParseLevel(r.MaxLevel); err == nil && a.Level > l {
		return false
	}
	return true
}

// CAPResult says what an import did.
type CAPResult struct {
	Identifier string   `json:"identifier"`
	Sender     string   `json:"sender"`
	Outcome    string   `json:"outcome"` // issued, pending, updated, update_pending, cancelled, allclear, duplicate
	AlertID    string   `json:"alert_id,omitempty"`
	Version    int      `json:"version,omitempty"`
	Rule       string   `json:"rule,omitempty"`
	Problems   []string `json:"problems,omitempty"`
	// Reason says why it issued or waits (the approval policy, the rule,
	// whether the sender was authenticated).
	Reason string `json:"reason,omitempty"`
}

// CAPError is an import refused as a whole; Problems name the elements.
type CAPError struct {
	Status   int
	Message  string
	Problems []string
}

func (e *CAPError) Error() string {
	if len(e.Problems) == 0 {
		return e.Message
	}
	return e.Message + ": " + strings.Join(e.Problems, "; ")
}

// ImportCAP imports one CAP document posted by an officer: by is its
// author (never the CAP sender, which is kept as the source). See
// ImportCAPFrom.
func (s *Service) ImportCAP(ctx context.Context, by dispatch.Actor, raw []byte, rules []CAPRule) (*CAPResult, error) {
	return s.ImportCAPFrom(ctx, by, raw, rules, dispatch.OriginCAPHuman)
}

// ImportCAPFrom turns one CAP document into a warning, an update or an end
// of one, following the rules and the approval policy. origin is
// OriginCAPHuman for a document an officer posted, OriginCAPPoll for one
// the poller fetched from a configured feed (by is then the system
// account). An auto rule issues at once only for an authenticated sender;
// an Update is an update by by under the policy; Cancel never waits. A
// repeated identifier is ignored; unknown areas are reported, never
// guessed; nothing is half-imported.
func (s *Service) ImportCAPFrom(ctx context.Context, by dispatch.Actor, raw []byte, rules []CAPRule, origin dispatch.Origin) (*CAPResult, error) {
	doc, err := cap.ParseBytes(raw)
	if err != nil {
		return nil, &CAPError{Status: cap.HTTPStatus(err), Message: "CAP refused", Problems: []string{err.Error()}}
	}
	res := &CAPResult{Identifier: doc.Identifier, Sender: doc.Sender}
	if id, seen, err := s.Store.CAPImported(ctx, doc.Sender, doc.Identifier); err != nil {
		return nil, err
	} else if seen {
		res.Outcome, res.AlertID = "duplicate", id
		return res, nil
	}
	draft, problems := CAPToDraft(doc, s.Population.Tree())
	for _, p := range problems {
		res.Problems = append(res.Problems, p.Error())
	}
	if draft == nil {
		return nil, &CAPError{Status: 422, Message: "CAP message cannot become a warning", Problems: res.Problems}
	}
	source := "cap:" + doc.Sender
	rule := CAPRule{Name: "default", Mode: "review"}
	for _, r := range rules {
		if r.matches(doc.Sender, draft) {
			rule = r
			break
		}
	}
	res.Rule = rule.Name
	authOrigin, authenticated, authWhy := rule.authenticate(raw, origin, by.Remote)

	if draft.Kind != warning.KindAlert {
		target, sameSender, err := s.capTarget(ctx, doc)
		if err != nil {
			return nil, err
		}
		if origin == dispatch.OriginCAPPoll && !sameSender {
			// A feed speaks for its own sender: it may update or end only
			// the warnings that sender sent us, never the county's own.
			return nil, &CAPError{Status: 403, Message: "CAP " + string(doc.MsgType) + " from a polled feed references a warning its sender did not send",
				Problems: []string{"alert/references: " + cap.FormatReferences(doc.References)}}
		}
		var a *dispatch.Alert
		switch draft.Kind {
		case warning.KindCancel, warning.KindAllClear:
			// Lifting a warning never waits.
			a, err = s.End(ctx, by, target, draft.Kind, "CAP "+string(doc.MsgType)+" "+doc.Identifier+" from "+doc.Sender)
			res.Outcome = map[warning.Kind]string{warning.KindCancel: "cancelled", warning.KindAllClear: "allclear"}[draft.Kind]
		default:
			cur, err2 := s.Store.Alert(ctx, target)
			if err2 != nil {
				return nil, err2
			}
			in := inputOf(draft, cur.Channels, cur.Audience)
			o := updateOpts{origin: authOrigin, source: source + " " + doc.Identifier}
			// An authenticated sender's auto rule stands in for the second
			// officer only on warnings imported from that same sender.
			if rule.Mode == "auto" && authenticated && sameSender && len(problems) == 0 {
				o.approval, o.approvalReason = "cap-rule:"+rule.Name, authWhy
			}
			var d dispatch.Decision
			a, d, err = s.update(ctx, by, target, in, o)
			res.Outcome, res.Reason = "updated", d.Reason
			if a != nil && a.Pending != nil && d.Waits() {
				res.Outcome = "update_pending"
			}
		}
		if err != nil {
			var ve *dispatch.ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					res.Problems = append(res.Problems, p.Error())
				}
				return nil, &CAPError{Status: 422, Message: "CAP message does not make a valid update", Problems: res.Problems}
			}
			if se := scopeRefusal(err); se != nil {
				return nil, se
			}
			return nil, err
		}
		res.AlertID, res.Version = a.ID, a.Version
		_, _ = s.Store.RecordCAPImport(ctx, doc.Sender, doc.Identifier, a.ID, a.Version)
		return res, nil
	}

	chans := rule.Channels
	if len(chans) == 0 {
		chans = []string{"speaker", "sms", "websocket"}
	}
	aud := draft.Audience
	// A message without Uyghur text reaches Mandarin readers only until an
	// officer adds it; say so rather than put Mandarin on a Uyghur phone.
	if _, ok := draft.Text["ug"]; !ok {
		if _, zh := draft.Text["zh"]; zh {
			aud.Languages = []string{"zh"}
			res.Problems = append(res.Problems, "no Uyghur text: only Mandarin readers are aimed until an officer updates the warning")
		}
	}
	in := inputOf(draft, chans, aud)
	o := createOpts{source: source, origin: authOrigin, why: "rule " + rule.Name}
	switch {
	case rule.Mode == "auto" && authenticated && len(problems) == 0:
		o.approval, o.approvalReason = "cap-rule:"+rule.Name, authWhy
	case rule.Mode == "auto" && !authenticated:
		o.review = "waiting for review: rule " + rule.Name + " issues automatically only for an authenticated sender; " + authWhy
	case rule.Mode == "auto":
		o.review = "waiting for review: the document has problems an officer must look at"
	default:
		o.review = "waiting for review: rule " + rule.Name + " is a review rule"
	}
	a, _, d, err := s.create(ctx, by, in, o)
	if err != nil {
		var ve *dispatch.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				res.Problems = append(res.Problems, p.Error())
			}
			return nil, &CAPError{Status: 422, Message: "CAP message does not make a valid warning", Problems: res.Problems}
		}
		if se := scopeRefusal(err); se != nil {
			return nil, se
		}
		return nil, err
	}
	res.Reason = d.Reason
	first, err := s.Store.RecordCAPImport(ctx, doc.Sender, doc.Identifier, a.ID, a.Version)
	if err != nil {
		return nil, err
	}
	if !first {
		// A concurrent import of the same identifier won; withdraw ours.
		_, _ = s.End(ctx, dispatch.Actor{Name: "system", Role: dispatch.RoleAdmin}, a.ID, warning.KindCancel, "duplicate CAP import")
		res.Outcome, res.Reason = "duplicate", ""
		return res, nil
	}
	res.AlertID, res.Version, res.Outcome = a.ID, a.Version, a.State.String()
	return res, nil
}

// capTarget finds the warning an Update or Cancel references: one imported
// from that sender and identifier, or one of ours by its CAP identifier.
// sameSender reports that the referenced warning was imported from this
// document's own sender.
func (s *Service) capTarget(ctx context.Context, doc *cap.Alert) (id string, sameSender bool, err error) {
	for i := len(doc.References) - 1; i >= 0; i-- {
		ref := doc.References[i]
		if id, ok, err := s.Store.CAPImported(ctx, ref.Sender, ref.Identifier); err != nil {
			return "", false, err
		} else if ok {
			return id, ref.Sender == doc.Sender, nil
		}
		if id, _, found := strings.Cut(ref.Identifier, "-v"); found {
			if _, err := s.Store.Alert(ctx, id); err == nil {
				return id, false, nil
			}
		}
	}
	return "", false, &CAPError{Status: 422, Message: "CAP " + string(doc.MsgType) + " references no warning known here",
		Problems: []string{"alert/references: " + cap.FormatReferences(doc.References)}}
}

func inputOf(d *dispatch.Alert, chans []string, aud dispatch.Audience) dispatch.AlertInput {
	in := dispatch.AlertInput{Event: d.Event.String(), Level: d.Level.String(), Status: d.Status.String(), Area: d.Area, Audience: aud,
		Channels: chans, Text: d.Text, Expires: d.Expires.Format(time.RFC3339)}
	if d.Level == warning.LevelUnknown {
		in.Level = ""
	}
	if !d.Onset.IsZero() {
		in.Onset = d.Onset.Format(time.RFC3339)
	}
	if d.Expires.IsZero() {
		in.Expires = ""
	}
	if d.Action != nil {
		in.Action = &dispatch.ActionInput{Type: d.Action.Type.String(), AwayFrom: d.Action.AwayFrom}
	}
	return in
}

// CAPOf exports a warning's current version as a CAP 1.2 document.
func (s *Service) CAPOf(ctx context.Context, a *dispatch.Alert, baseURL string) ([]byte, error) {
	versions, err := s.Store.AlertVersions(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	var prior []*dispatch.Alert
	for _, v := range versions {
		if v.Version < a.Version {
			prior = append(prior, v)
		}
	}
	opts := []CAPOption{WithPriorVersions(prior...), WithRegionTree(s.Population.Tree())}
	// The shelters named are those of the version's frozen guidance. One
	// with none usable (stored before guidance was frozen, or its row
	// changed) names no shelter: the action line still goes out.
	if g, err := s.Store.VersionGuidance(ctx, a); err == nil {
		opts = append(opts, WithGuidance(g))
	} else if !errors.Is(err, dispatch.ErrGuidanceMissing) && !errors.Is(err, dispatch.ErrGuidanceTampered) {
		return nil, err
	} else {
		s.log().Warn("CAP export without shelters: no usable frozen guidance", "alert_id", a.ID, "version", a.Version, "err", err)
	}
	if s.Engine != nil && (a.HasChannel("speaker") || a.HasChannel("voice")) && s.Engine.Audio() != nil {
		if au, err := s.Engine.Audio().RenderAlert(ctx, a); err == nil {
			opts = append(opts, WithAudio(au))
		}
	}
	return AlertToCAP(a, baseURL, opts...).Marshal()
}

// ActiveFeed is the Atom feed of active warnings.
func (s *Service) ActiveFeed(ctx context.Context, baseURL string) ([]byte, error) {
	list, err := s.Store.ListAlerts(ctx, dispatch.AlertFilter{State: warning.StateIssued.String(), Limit: 500})
	if err != nil {
		return nil, err
	}
	f := &cap.Feed{ID: baseURL + "/api/v1/feed.atom", Self: baseURL + "/api/v1/feed.atom",
		Title: "疏勒县应急管理局 预警信息 / Alertcast active warnings", Author: CAPSender(baseURL)}
	for _, a := range list {
		f.Entries = append(f.Entries, cap.FeedEntry{Alert: AlertToCAP(a, baseURL, WithRegionTree(s.Population.Tree())),
			URL: baseURL + "/api/v1/alerts/" + a.ID + "/cap", Language: "zh-CN"})
	}
	return f.Marshal()
}

// scopeRefusal turns a scope refusal into a CAP error (403, permanent: a
// poller does not retry it), naming the area and the importing account's
// scope.
func scopeRefusal(err error) *CAPError {
	var se *dispatch.ScopeError
	if !errors.As(err, &se) {
		return nil
	}
	return &CAPError{Status: 403, Message: "CAP area is outside the importing account's scope", Problems: []string{se.Error()}}
}
