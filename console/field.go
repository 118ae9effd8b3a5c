package console

import (
	"embed"
	"fmt"
	"net/http"
	"strings"
)

// The field page (/field/) is what a field team opens on a phone to send a
// report (灾情报送) back to the command centre. It is its own small page,
// not a console route: it must load fast on a weak mobile link, work
// offline (a service worker keeps its files; reports wait in IndexedDB
// until the network returns) and show only what a field team needs.

//go:embed field
var fieldFS embed.FS

// FieldPrefix is the URL path of the field page and its files.
const FieldPrefix = "/field/"

// FieldContentSecurityPolicy adds to the console's policy what the field
// page needs: its service worker, photo previews from blob: URLs, the
// manifest.
const FieldContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// The page asks for the device's position and camera; nothing else may.
var fieldSite = &site{name: "field page", build: buildField, csp: FieldContentSecurityPolicy,
	permissions: "geolocation=(self), camera=(self), microphone=()"}

// FieldHandler serves the field page at /field/ and its files under it.
// Mount it for "GET /field/".
func FieldHandler() http.Handler { return fieldSite.handler() }

// FieldPaths lists the URL paths of the field page, for page-weight checks.
func FieldPaths() []string { return fieldSite.paths() }

func buildField() (map[string]*asset, error) {
	out, err := embeddedAssets(fieldFS, "field", FieldPrefix, FieldPrefix, func(rel string) string {
		if strings.HasSuffix(rel, ".webmanifest") {
			return "application/manifest+json"
		}
		return typeOf(rel)
	})
	if err != nil {
		return nil, err
	}
	if out[FieldPrefix] == nil {
		return nil, fmt.Errorf("field/index.html missing")
	}
	return out, nil
}
