package api

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

const (
	rkey1 = "5f0c8a52-9a4e-4b8e-8d2c-0e6f1a2b3c41"
	rkey2 = "5f0c8a52-9a4e-4b8e-8d2c-0e6f1a2b3c42"
)

type reportsEnv struct {
	*accountsEnv
	field, op, viewer2 string // bearer tokens
	mu                 sync.Mutex
	events             []ReportEvent
	shelters           *fakeShelters
}

type fakeShelters struct {
	mu  sync.Mutex
	set map[string]int
}

func (f *fakeShelters) SetShelterOccupancy(ctx context.Context, id string, n int, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "SH-1" {
		return dispatch.ErrNotFound
	}
	f.set[id] = n
	return nil
}

func newReportsEnv(t *testing.T) *reportsEnv {
	e := &reportsEnv{accountsEnv: newAccountsEnv(t, LoginLimits{}), shelters: &fakeShelters{set: map[string]int{}}}
	e.field = e.user("team1", dispatch.RoleViewer, "")
	e.viewer2 = e.user("team2", dispatch.RoleViewer, "")
	e.op = e.user("duty", dispatch.RoleOperator, "")
	e.api.Shelters = e.shelters
	e.api.ReportEvents = func(ctx context.Context, alertID string, ev ReportEvent) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if alertID != "A1" {
			t.Errorf("event for alert %q", alertID)
		}
		e.events = append(e.events, ev)
		return nil
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &dispatch.Alert{ID: "A1", Version: 1, Event: warning.EventSandstorm, Level: warning.LevelOrange, Status: warning.StatusActual,
		State: warning.StateIssued, Area: dispatch.Area{Codes: []string{"653122100"}}, Channels: []string{"sms"}, Kind: warning.KindAlert,
		Text: map[string]dispatch.Text{"zh": {Headline: "沙尘暴"}}, Expires: now.Add(time.Hour), CreatedBy: "duty", CreatedAt: now, UpdatedAt: now}
	if _, _, err := e.store.InsertAlert(context.Background(), a, "", dispatch.AuditEntry{Actor: "duty", Action: "alert.issue"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *reportsEnv) changes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.events {
		out = append(out, ev.Change)
	}
	return out
}

func reportBody(key string) map[string]any {
	return map[string]any{"alert_id": "A1", "kind": "casualties", "counts": map[string]int{"injured": 2},
		"text": "村口两人受伤", "location": map[string]any{"lon": 76.05, "lat": 39.4, "accuracy_m": 15}, "idempotency_key": key}
}

// raw sends body with a content type as the bearer token's user.
func (e *reportsEnv) raw(method, path, token, ctype string, body []byte) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

type part struct {
	name, filename, ctype string
	body                  []byte
}

func multipartBody(t *testing.T, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.body)
	}
	_ = mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func jsonPart(t *testing.T, v any) part {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return part{name: "report", ctype: "application/json", body: b}
}

const exifSecret = "GPS 39.401234N 76.034567E Owner: Tursun's phone"

// testJPEG is a w×h JPEG, left half red and right half blue, carrying an
// EXIF segment with orientation o and a description that names a place
// and a person.
func testJPEG(t testing.TB, w, h int, o uint16) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{220, 20, 20, 255}
			if x >= w/2 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.Set(x, y, c)
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// TIFF, little-endian: IFD0 with Orientation (SHORT) and
	// ImageDescription (ASCII, stored after the IFD).
	desc := append([]byte(exifSecret), 0)
	var tiff bytes.Buffer
	le := binary.LittleEndian
	tiff.WriteString("II")
	_ = binary.Write(&tiff, le, uint16(42))
	_ = binary.Write(&tiff, le, uint32(8))
	_ = binary.Write(&tiff, le, uint16(2))
	_ = binary.Write(&tiff, le, [4]uint16{0x010E, 2, 0, 0}) // tag, type ASCII, count (low, high)
	tiffEntryPatch := tiff.Len() - 4
	_ = binary.Write(&tiff, le, uint32(8+2+2*12+4)) // value offset: after the IFD
	_ = binary.Write(&tiff, le, [2]uint16{0x0112, 3})
	_ = binary.Write(&tiff, le, uint32(1))
	_ = binary.Write(&tiff, le, [2]uint16{o, 0})
	_ = binary.Write(&tiff, le, uint32(0)) // no next IFD
	tiff.Write(desc)
	tb := tiff.Bytes()
	le.PutUint32(tb[tiffEntryPatch:], uint32(len(desc)))
	seg := append([]byte("Exif\x00\x00"), tb...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	app1 = append(app1, seg...)
	j := jb.Bytes()
	out := append([]byte{}, j[:2]...)
	out = append(out, app1...)
	return append(out, j[2:]...)
}

func TestReportsAPI(t *testing.T) {
	e := newReportsEnv(t)

	// Only field accounts send reports.
	if a := e.do("POST", "/api/v1/reports", e.op, "", reportBody(rkey1)); a.status != 403 {
		t.Fatalf("operator sends a report: %d %v", a.status, a.body)
	}
	a := e.do("POST", "/api/v1/reports", e.field, "", reportBody(rkey1))
	if a.status != 201 || a.body["id"] == nil || a.body["reporter"] != "team1" || a.header.Get("Location") == "" {
		t.Fatalf("report: %d %v", a.status, a.body)
	}
	id := a.body["id"].(string)
	// The phone sends it again (its answer was lost): the same report.
	again := e.do("POST", "/api/v1/reports", e.field, "", reportBody(rkey1))
	if again.status != 200 || again.body["id"] != id {
		t.Fatalf("resend: %d %v", again.status, again.body)
	}
	if list, _ := e.store.ReportsForAlert(context.Background(), "A1"); len(list) != 1 {
		t.Fatalf("%d reports stored, want 1", len(list))
	}

	// Bad input names the field.
	for _, c := range []struct {
		edit   func(m map[string]any)
		status int
		field  string
	}{
		{func(m map[string]any) { m["kind"] = "fire" }, 400, ""},
		{func(m map[string]any) { m["counts"] = map[string]int{"level_cm": 3} }, 422, "counts.level_cm"},
		{func(m map[string]any) { m["alert_id"] = "NOPE" }, 422, "alert_id"},
		{func(m map[string]any) { m["location"] = map[string]any{} }, 422, "location"},
		{func(m map[string]any) { m["idempotency_key"] = "1" }, 422, "idempotency_key"},
		{func(m map[string]any) { m["colour"] = "red" }, 400, "colour"},
	} {
		m := reportBody(rkey2)
		c.edit(m)
		b := e.do("POST", "/api/v1/reports", e.field, "", m)
		if b.status != c.status || (c.field != "" && !strings.Contains(b.message()+b.code(), c.field) && !problemNames(b, c.field)) {
			t.Errorf("%v: %d %v, want %d naming %s", m, b.status, b.body, c.status, c.field)
		}
	}

	// Officers read; field teams do not read others' reports.
	if b := e.do("GET", "/api/v1/alerts/A1/reports", e.field, "", nil); b.status != 403 {
		t.Fatalf("field reads the warning's reports: %d", b.status)
	}
	list := e.do("GET", "/api/v1/alerts/A1/reports", e.op, "", nil)
	if rs, _ := list.body["reports"].([]any); list.status != 200 || len(rs) != 1 {
		t.Fatalf("officer's list: %d %v", list.status, list.body)
	}
	if b := e.do("GET", "/api/v1/alerts/NOPE/reports", e.op, "", nil); b.status != 404 {
		t.Fatalf("unknown warning: %d", b.status)
	}

	// Acknowledge, assign, reply; the field team sees the reply.
	if b := e.do("POST", "/api/v1/reports/"+id+"/acknowledge", e.op, "", nil); b.status != 200 || b.body["state"] != "acknowledged" {
		t.Fatalf("ack: %d %v", b.status, b.body)
	}
	if b := e.do("POST", "/api/v1/reports/"+id+"/assign", e.op, "", map[string]string{"to": "nobody"}); b.status != 422 || !problemNames(b, "to") {
		t.Fatalf("assign to nobody: %d %v", b.status, b.body)
	}
	if b := e.do("POST", "/api/v1/reports/"+id+"/assign", e.op, "", map[string]string{"to": "duty"}); b.status != 200 || b.body["assigned_to"] != "duty" {
		t.Fatalf("assign: %d %v", b.status, b.body)
	}
	if b := e.do("POST", "/api/v1/reports/"+id+"/reply", e.field, "", map[string]string{"text": "x"}); b.status != 403 {
		t.Fatalf("field replies: %d", b.status)
	}
	if b := e.do("POST", "/api/v1/reports/"+id+"/reply", e.op, "", map[string]string{"text": "救护车已出发"}); b.status != 200 {
		t.Fatalf("reply: %d %v", b.status, b.body)
	}
	mine := e.do("GET", "/api/v1/reports/mine", e.field, "", nil)
	rs, _ := mine.body["reports"].([]any)
	if mine.status != 200 || len(rs) != 1 {
		t.Fatalf("mine: %d %v", mine.status, mine.body)
	}
	replies, _ := rs[0].(map[string]any)["replies"].([]any)
	if len(replies) != 1 || replies[0].(map[string]any)["text"] != "救护车已出发" {
		t.Fatalf("the field team does not see the reply: %v", rs[0])
	}
	if other := e.do("GET", "/api/v1/reports/mine", e.viewer2, "", nil); len(other.body["reports"].([]any)) != 0 {
		t.Fatalf("another team sees team1's reports: %v", other.body)
	}

	if got, want := strings.Join(e.changes(), ","), "created,acknowledged,assigned,replied"; got != want {
		t.Fatalf("console events %s, want %s", got, want)
	}
	acts := map[string]int{}
	for _, x := range e.auditActions("") {
		acts[x.Action]++
	}
	for _, act := range []string{"report.create", "report.acknowledge", "report.assign", "report.reply"} {
		if acts[act] != 1 {
			t.Errorf("audit %s: %d entries, want 1", act, acts[act])
		}
	}
}

func problemNames(a answer, field string) bool {
	e, _ := a.body["error"].(map[string]any)
	ps, _ := e["problems"].([]any)
	for _, p := range ps {
		if m, _ := p.(map[string]any); m["field"] == field {
			return true
		}
	}
	return false
}

func TestReportShelterOccupancy(t *testing.T) {
	e := newReportsEnv(t)
	body := map[string]any{"alert_id": "A1", "kind": "shelter_occupancy", "shelter_id": "SH-1", "counts": map[string]int{"people": 230},
		"location": map[string]any{"village": "653122100001"}, "idempotency_key": rkey1}
	a := e.do("POST", "/api/v1/reports", e.field, "", body)
	if a.status != 201 || a.body["occupancy_applied"] != true || e.shelters.set["SH-1"] != 230 {
		t.Fatalf("occupancy: %d %v %v", a.status, a.body, e.shelters.set)
	}
	// An unknown shelter: the report is kept, the figure is not touched.
	body["shelter_id"], body["idempotency_key"] = "SH-404", rkey2
	a = e.do("POST", "/api/v1/reports", e.field, "", body)
	if a.status != 201 || a.body["occupancy_applied"] == true || len(e.shelters.set) != 1 {
		t.Fatalf("unknown shelter: %d %v %v", a.status, a.body, e.shelters.set)
	}
}

func TestReportPhotosStripMetadata(t *testing.T) {
	e := newReportsEnv(t)
	src := testJPEG(t, 64, 32, 6) // stored sideways: the phone says turn 90° clockwise
	if !bytes.Contains(src, []byte(exifSecret)) || exifOrientation(src) != 6 {
		t.Fatal("the test JPEG carries no EXIF")
	}
	ct, body := multipartBody(t, jsonPart(t, reportBody(rkey1)), part{name: "photo", filename: "IMG_0001.jpg", ctype: "image/jpeg", body: src})
	st, _, b := e.raw("POST", "/api/v1/reports", e.field, ct, body)
	if st != 201 {
		t.Fatalf("report with photo: %d %s", st, b)
	}
	var rep dispatch.FieldReport
	_ = json.Unmarshal(b, &rep)
	if len(rep.Photos) != 1 || rep.Photos[0].Width != 32 || rep.Photos[0].Height != 64 {
		t.Fatalf("photo: %+v (want 32×64: turned upright)", rep.Photos)
	}
	path := "/api/v1/reports/" + rep.ID + "/photos/" + rep.Photos[0].ID
	if st, _, _ := e.raw("GET", path, e.field, "", nil); st != 403 {
		t.Fatalf("field team fetches the photo: %d, want 403 (officers only)", st)
	}
	st, h, img := e.raw("GET", path, e.op, "", nil)
	if st != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("officer fetches the photo: %d %s", st, h.Get("Content-Type"))
	}
	for _, leak := range []string{exifSecret, "Exif", "Tursun"} {
		if bytes.Contains(img, []byte(leak)) {
			t.Fatalf("served photo still carries %q", leak)
		}
	}
	if exifOrientation(img) != 1 {
		t.Fatal("served photo carries an orientation tag")
	}
	dec, err := jpeg.Decode(bytes.NewReader(img))
	if err != nil || dec.Bounds().Dx() != 32 || dec.Bounds().Dy() != 64 {
		t.Fatalf("served photo: %v %v", err, dec.Bounds())
	}
	// Upright: the red left half of the sensor image is now on top.
	if r, _, bl, _ := dec.At(16, 8).RGBA(); r < bl {
		t.Fatalf("top of the upright photo is not red: r=%d b=%d", r>>8, bl>>8)
	}
	if r, _, bl, _ := dec.At(16, 56).RGBA(); r > bl {
		t.Fatalf("bottom of the upright photo is not blue: r=%d b=%d", r>>8, bl>>8)
	}
	st, h, th := e.raw("GET", path+"?size=thumb", e.op, "", nil)
	if st != 200 || h.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d", st)
	}
	if _, err := jpeg.Decode(bytes.NewReader(th)); err != nil {
		t.Fatalf("thumbnail: %v", err)
	}

	// A photo sent afterwards, as PNG with a text chunk; the same twice is one.
	pimg := image.NewRGBA(image.Rect(0, 0, 900, 300))
	var pb bytes.Buffer
	_ = png.Encode(&pb, pimg)
	pngBytes := withPNGText(pb.Bytes(), "Comment", exifSecret)
	if !bytes.Contains(pngBytes, []byte(exifSecret)) {
		t.Fatal("test PNG without its text chunk")
	}
	if st, _, b := e.raw("POST", "/api/v1/reports/"+rep.ID+"/photos", e.viewer2, "image/png", pngBytes); st != 403 {
		t.Fatalf("another team adds a photo: %d %s", st, b)
	}
	st, _, b = e.raw("POST", "/api/v1/reports/"+rep.ID+"/photos", e.field, "image/png", pngBytes)
	if st != 201 {
		t.Fatalf("add photo: %d %s", st, b)
	}
	var ph dispatch.FieldReportPhoto
	_ = json.Unmarshal(b, &ph)
	if st, _, _ := e.raw("POST", "/api/v1/reports/"+rep.ID+"/photos", e.field, "image/png", pngBytes); st != 200 {
		t.Fatalf("the same photo again: %d, want 200", st)
	}
	_, _, big := e.raw("GET", "/api/v1/reports/"+rep.ID+"/photos/"+ph.ID, e.op, "", nil)
	if bytes.Contains(big, []byte(exifSecret)) || http.DetectContentType(big) != "image/jpeg" {
		t.Fatal("PNG text chunk survived, or not re-encoded as JPEG")
	}
	if got, _ := e.store.FieldReport(context.Background(), rep.ID); len(got.Photos) != 2 {
		t.Fatalf("%d photos, want 2", len(got.Photos))
	}
	if got := strings.Join(e.changes(), ","); got != "created,photo" {
		t.Fatalf("console events %s", got)
	}
}

// withPNGText inserts a tEXt chunk after IHDR.
func withPNGText(p []byte, key, text string) []byte {
	data := append(append([]byte(key), 0), text...)
	var chunk bytes.Buffer
	_ = binary.Write(&chunk, binary.BigEndian, uint32(len(data)))
	chunk.WriteString("tEXt")
	chunk.Write(data)
	_ = binary.Write(&chunk, binary.BigEndian, uint32(0)) // CRC, set below
	c := chunk.Bytes()
	crc := crc32.ChecksumIEEE(c[4 : len(c)-4])
	binary.BigEndian.PutUint32(c[len(c)-4:], crc)
	ihdrEnd := 8 + 8 + 13 + 4
	out := append([]byte{}, p[:ihdrEnd]...)
	out = append(out, c...)
	return append(out, p[ihdrEnd:]...)
}

func TestReportUploadsRefused(t *testing.T) {
	e := newReportsEnv(t)
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	jpg := testJPEG(t, 8, 8, 1)
	cases := []struct {
		name   string
		parts  []part
		status int
		field  string
	}{
		{"gif", []part{jsonPart(t, reportBody(rkey1)), {name: "photo", body: gif}}, 422, "photo[0]"},
		{"truncated jpeg", []part{jsonPart(t, reportBody(rkey1)), {name: "photo", body: jpg[:40]}}, 422, "photo[0]"},
		{"no report part", []part{{name: "photo", body: jpg}}, 400, "report"},
		{"unknown part", []part{jsonPart(t, reportBody(rkey1)), {name: "video", body: jpg}}, 400, "video"},
		{"five photos", []part{jsonPart(t, reportBody(rkey1)), {name: "photo", body: jpg}, {name: "photo", body: jpg},
			{name: "photo", body: jpg}, {name: "photo", body: jpg}, {name: "photo", body: jpg}}, 422, "photo[4]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ct, body := multipartBody(t, c.parts...)
			st, _, b := e.raw("POST", "/api/v1/reports", e.field, ct, body)
			var a answer
			a.status = st
			_ = json.Unmarshal(b, &a.body)
			if st != c.status || !problemNames(a, c.field) {
				t.Fatalf("%d %s, want %d naming %s", st, b, c.status, c.field)
			}
		})
	}
	if st, _, b := e.raw("POST", "/api/v1/reports", e.field, "text/plain", []byte("hi")); st != 415 {
		t.Fatalf("text/plain: %d %s", st, b)
	}
	if list, _ := e.store.ReportsForAlert(context.Background(), "A1"); len(list) != 0 {
		t.Fatalf("refused uploads stored %d reports", len(list))
	}
	// Too many pixels: refused from the header, before decoding.
	huge := image.NewGray(image.Rect(0, 0, 1, 1))
	var hb bytes.Buffer
	_ = png.Encode(&hb, huge)
	hp := hb.Bytes()
	binary.BigEndian.PutUint32(hp[16:], 20000)
	binary.BigEndian.PutUint32(hp[20:], 20000)
	binary.BigEndian.PutUint32(hp[29:], crc32.ChecksumIEEE(hp[12:29]))
	if _, err := processPhoto(context.Background(), "photo", hp); err == nil || !strings.Contains(err.Error(), "megapixels") {
		t.Fatalf("20000×20000 PNG: %v", err)
	}
}

func FuzzParseReportRequest(f *testing.F) {
	b, _ := json.Marshal(reportBody(rkey1))
	f.Add("application/json", b)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.SetBoundary("XyZ")
	w, _ := mw.CreateFormField("report")
	_, _ = w.Write(b)
	w, _ = mw.CreateFormFile("photo", "a.jpg")
	_, _ = w.Write([]byte{0xff, 0xd8, 0xff, 0xe1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	_ = mw.Close()
	f.Add("multipart/form-data; boundary=XyZ", buf.Bytes())
	f.Add("multipart/form-data", []byte("--\r\n"))
	f.Add("application/json; charset=utf-8", []byte(`{"kind":"all_well","counts":{"x":1}}`))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		in, photos, err := parseReportRequest(ctype, bytes.NewReader(body))
		if err != nil {
			if _, ok := err.(*requestError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(photos) > dispatch.MaxReportPhotos {
			t.Fatalf("%d photos accepted", len(photos))
		}
		for _, p := range photos {
			if len(p) > MaxPhotoBytes {
				t.Fatal("oversized photo accepted")
			}
		}
		_ = in.Validate(time.Now(), nil) // must not panic on anything decoded
	})
}

func FuzzExifOrientation(f *testing.F) {
	f.Add(testJPEG(f, 4, 4, 6)[:200])
	f.Add([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x10, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8})
	f.Add([]byte{0xff, 0xd8, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := exifOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

func FuzzProcessPhoto(f *testing.F) {
	f.Add(testJPEG(f, 9, 5, 8))
	var pb bytes.Buffer
	_ = png.Encode(&pb, image.NewNRGBA(image.Rect(0, 0, 3, 7)))
	f.Add(pb.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := processPhoto(context.Background(), "photo", b)
		if err != nil {
			return
		}
		if p.Width < 1 || p.Height < 1 || p.Width > photoMaxSide || p.Height > photoMaxSide {
			t.Fatalf("photo %d×%d", p.Width, p.Height)
		}
		if http.DetectContentType(p.Image) != "image/jpeg" || http.DetectContentType(p.Thumb) != "image/jpeg" {
			t.Fatal("not re-encoded as JPEG")
		}
	})
}
