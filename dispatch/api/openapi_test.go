package api

import (
	"net/http"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every /api/v1 route the API registers is documented in openapi.yaml.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var spec struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPISpec, &spec); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	mux := &recordingMux{}
	(&API{}).Routes(mux)
	for _, r := range mux.routes {
		method, path, _ := strings.Cut(r, " ")
		path = strings.TrimPrefix(path, "/api/v1")
		if path == "/openapi.yaml" || path == "/logout" {
			continue
		}
		ops, ok := spec.Paths[path]
		if !ok {
			t.Errorf("route %s %s is not documented", method, path)
			continue
		}
		if _, ok := ops[strings.ToLower(method)]; !ok {
			t.Errorf("route %s %s: method not documented", method, path)
		}
	}
}

type recordingMux struct{ routes []string }

func (m *recordingMux) Handle(pattern string, h http.Handler) { m.routes = append(m.routes, pattern) }
