package api

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFleetQuery: any query string either parses into bounded values or is
// refused naming one parameter of the query; never a panic.
func FuzzFleetQuery(f *testing.F) {
	for _, s := range []string{"", "status=offline&region=653122100&q=村&limit=50", "cursor=U1BLLTE", "q=%ff", "limit=-1", "format=csv", "region=65312210000x"} {
		f.Add(s)
	}
	api := &API{}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fq, fe := api.parseFleetQuery(q)
		if fe != nil {
			if _, ok := q[fe.Field]; !ok {
				t.Fatalf("%q: error names %q, not a parameter of the query", raw, fe.Field)
			}
			return
		}
		if fq.limit < 1 || fq.limit > fleetMaxLimit || utf8.RuneCountInString(fq.filter.Q) > fleetMaxQ || !utf8.ValidString(fq.after) ||
			(fq.status != "" && !slices.Contains(fleetStatusFilters, fq.status)) || strings.ContainsAny(fq.filter.Region, "%_\\") {
			t.Fatalf("%q: accepted out of bounds: %+v", raw, fq)
		}
	})
}

// FuzzAuditQuery: the same for the audit log's query.
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"", "actor=op&action=alert.&alert=W1&since=2026-12-03T00:00:00Z&until=2026-12-04T00:00:00%2B08:00", "after=0&alert=x", "cursor=9", "lang=zh&format=csv"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		aq, fe := parseAuditQuery(q)
		if fe != nil {
			if _, ok := q[fe.Field]; !ok {
				t.Fatalf("%q: error names %q, not a parameter of the query", raw, fe.Field)
			}
			return
		}
		if aq.limit < 1 || aq.limit > auditMaxLimit || aq.before < 0 || aq.after < 0 || len(aq.filter.Actor) > 128 ||
			(!aq.filter.Since.IsZero() && !aq.filter.Until.IsZero() && !aq.filter.Since.Before(aq.filter.Until)) {
			t.Fatalf("%q: accepted out of bounds: %+v", raw, aq)
		}
	})
}
