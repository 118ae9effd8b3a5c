package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// requestError is a refused request body: the status, the code and a
// message naming what is wrong.
type requestError struct {
	status  int
	code    string
	msg     string
	problem *warning.FieldError
}

func (e *requestError) Error() string { return e.msg }

func (e *requestError) write(w http.ResponseWriter) {
	if e.problem != nil {
		writeError(w, e.status, e.code, e.msg, *e.problem)
		return
	}
	writeError(w, e.status, e.code, e.msg)
}

func badBody(msg string, fe *warning.FieldError) *requestError {
	return &requestError{status: http.StatusBadRequest, code: "bad_request", msg: msg, problem: fe}
}

// decodeStrict reads one JSON object: unknown fields and trailing data are
// errors that name what is wrong (as decode does for plain JSON bodies).
func decodeStrict(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("body over %d bytes", mbe.Limit)}
		case errors.As(err, &se):
			return &requestError{status: 400, code: "bad_json", msg: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, err)}
		case errors.As(err, &te):
			return &requestError{status: 400, code: "bad_json", msg: fmt.Sprintf("field %q: must be %s, got %s", te.Field, te.Type, te.Value),
				problem: &warning.FieldError{Field: te.Field, Rule: "must be " + te.Type.String(), Value: te.Value}}
		case errors.Is(err, io.EOF):
			return &requestError{status: 400, code: "bad_json", msg: "empty body: a JSON object is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &requestError{status: 400, code: "bad_json", msg: "unknown field " + f, problem: &warning.FieldError{Field: f, Rule: "unknown field"}}
		default:
			// e.g. an unknown report kind, named by UnmarshalText.
			return &requestError{status: 400, code: "bad_json", msg: "malformed JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return &requestError{status: 400, code: "bad_json", msg: "trailing data after the JSON object"}
	}
	return nil
}

// maxReportRequest bounds a report with all its photos.
const maxReportRequest = dispatch.MaxReportPhotos*MaxPhotoBytes + MaxBody

// parseReportRequest reads POST /api/v1/reports: a JSON report, or
// multipart/form-data with the JSON in a part named "report" and up to
// MaxReportPhotos files in parts named "photo". Photos come back as sent;
// processPhoto decodes them.
func parseReportRequest(ctype string, body io.Reader) (dispatch.FieldReportInput, [][]byte, error) {
	var in dispatch.FieldReportInput
	mt, params, err := mime.ParseMediaType(ctype)
	if ctype == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return in, nil, &requestError{status: http.StatusUnsupportedMediaType, code: "bad_content_type",
			msg: "Content-Type: application/json or multipart/form-data: " + err.Error()}
	}
	switch mt {
	case "application/json":
		return in, nil, decodeStrict(io.LimitReader(body, MaxBody+1), &in)
	case "multipart/form-data":
	default:
		return in, nil, &requestError{status: http.StatusUnsupportedMediaType, code: "bad_content_type",
			msg: "Content-Type must be application/json or multipart/form-data, got " + mt}
	}
	boundary := params["boundary"]
	if boundary == "" {
		return in, nil, badBody("multipart body without a boundary", nil)
	}
	mr := multipart.NewReader(body, boundary)
	var photos [][]byte
	seenReport := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return in, nil, &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("body over %d bytes", mbe.Limit)}
			}
			return in, nil, badBody("malformed multipart body: "+err.Error(), nil)
		}
		switch name := p.FormName(); name {
		case "report":
			if seenReport {
				return in, nil, badBody("more than one part named report", &warning.FieldError{Field: "report", Rule: "exactly one"})
			}
			seenReport = true
			if err := decodeStrict(io.LimitReader(p, MaxBody+1), &in); err != nil {
				return in, nil, err
			}
		case "photo":
			field := "photo[" + strconv.Itoa(len(photos)) + "]"
			if len(photos) == dispatch.MaxReportPhotos {
				return in, nil, &requestError{status: 422, code: "validation", msg: fmt.Sprintf("at most %d photos per report", dispatch.MaxReportPhotos),
					problem: &warning.FieldError{Field: field, Rule: fmt.Sprintf("at most %d photos per report", dispatch.MaxReportPhotos)}}
			}
			b, err := io.ReadAll(io.LimitReader(p, MaxPhotoBytes+1))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return in, nil, &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("body over %d bytes", mbe.Limit)}
				}
				return in, nil, badBody(field+": "+err.Error(), &warning.FieldError{Field: field, Rule: "readable"})
			}
			if len(b) > MaxPhotoBytes {
				return in, nil, &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large",
					msg: fmt.Sprintf("%s: over %d MB", field, MaxPhotoBytes>>20), problem: &warning.FieldError{Field: field, Rule: fmt.Sprintf("at most %d MB", MaxPhotoBytes>>20)}}
			}
			photos = append(photos, b)
		default:
			return in, nil, badBody("unknown part "+strconv.Quote(clip(name)), &warning.FieldError{Field: clip(name), Rule: `unknown part: want "report" and "photo"`})
		}
	}
	if !seenReport {
		return in, nil, badBody("multipart body without a part named report (the report as JSON)", &warning.FieldError{Field: "report", Rule: "required"})
	}
	return in, photos, nil
}

// parsePhotoRequest reads POST /api/v1/reports/{id}/photos: the image
// itself (image/jpeg or image/png), or multipart with one part "photo".
func parsePhotoRequest(ctype string, body io.Reader) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return nil, &requestError{status: http.StatusUnsupportedMediaType, code: "bad_content_type", msg: "Content-Type: image/jpeg, image/png or multipart/form-data"}
	}
	var rd io.Reader
	switch mt {
	case "image/jpeg", "image/png":
		rd = body
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, badBody("multipart body without a boundary", nil)
		}
		p, err := multipart.NewReader(body, params["boundary"]).NextPart()
		if err != nil {
			return nil, badBody("malformed multipart body: "+err.Error(), nil)
		}
		if p.FormName() != "photo" {
			return nil, badBody("the part must be named photo", &warning.FieldError{Field: clip(p.FormName()), Rule: `want one part named "photo"`})
		}
		rd = p
	default:
		return nil, &requestError{status: http.StatusUnsupportedMediaType, code: "bad_content_type",
			msg: "Content-Type must be image/jpeg, image/png or multipart/form-data, got " + mt}
	}
	b, err := io.ReadAll(io.LimitReader(rd, MaxPhotoBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("body over %d bytes", mbe.Limit)}
		}
		return nil, badBody("photo: "+err.Error(), nil)
	}
	if len(b) > MaxPhotoBytes {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("photo: over %d MB", MaxPhotoBytes>>20),
			problem: &warning.FieldError{Field: "photo", Rule: fmt.Sprintf("at most %d MB", MaxPhotoBytes>>20)}}
	}
	return b, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
