package websocket

import (
	"bytes"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// pageLanguage picks the resident page's first language for a village:
// the browser's preference among zh and ug (Accept-Language, by q), else
// the language most registered residents of the village read, else zh. A
// ?lang= or the resident's stored choice still wins in the page itself.
func (h *Hub) pageLanguage(r *http.Request, village string) string {
	if l := acceptedLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	if h.cfg.VillageLanguage != nil {
		if l := h.cfg.VillageLanguage(village); l == "zh" || l == "ug" {
			return l
		}
	}
	return "zh"
}

// acceptedLanguage is the zh or ug tag the header prefers most, "" when it
// names neither (or refuses both with q=0).
func acceptedLanguage(header string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (primary == "zh" || primary == "ug") && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// indexFor is the page with its first language filled in.
func indexFor(page []byte, lang string) []byte {
	return bytes.Replace(page, []byte(`<html lang="zh"`), []byte(`<html lang="`+lang+`" data-lang="`+lang+`"`), 1)
}

// notFoundTmpl says, in both languages (the resident's language is not
// known yet), what is wrong and how to find the right village code.
var notFoundTmpl = template.Must(template.New("404").Parse(`<!doctype html>
<html lang="{{.First}}"{{if eq .First "ug"}} dir="rtl"{{end}}>
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>找不到该村 · كەنت تېپىلمىدى</title><link rel="stylesheet" href="/r/app.css"></head>
<body>
{{range .Langs}}<section class="notfound" lang="{{.Lang}}" dir="{{.Dir}}">
<h1>{{.Title}}</h1>
<p>{{.What}} <code dir="ltr">{{$.Code}}</code></p>
<p>{{.How}} <a href="/r/">{{.Link}}</a></p>
</section>
{{end}}</body></html>
`))

type notFoundText struct{ Lang, Dir, Title, What, How, Link string }

var notFoundTexts = map[string]notFoundText{
	"zh": {"zh", "ltr", "找不到这个村（社区）",
		"地址中的代码不是疏勒县的乡镇或村（社区）代码：",
		"村代码为12位数字，乡镇代码为9位。请打开预警首页，选择您所在的乡镇和村：", "选择乡镇和村"},
	"ug": {"ug", "rtl", "بۇ كەنت تېپىلمىدى",
		"ئادرېستىكى نومۇر يېڭىشەھەر ناھىيىسىدىكى يېزا-بازار ياكى كەنتنىڭ نومۇرى ئەمەس:",
		"كەنت نومۇرى 12 خانىلىق، يېزا-بازار نومۇرى 9 خانىلىق سان. ئاگاھلاندۇرۇش بېتىنى ئېچىپ يېزا ۋە كەنتىڭىزنى تاللاڭ:", "يېزا ۋە كەنتنى تاللاش"},
}

// notFound answers an unknown or malformed region code with a page a
// resident can act on, in the language the browser prefers first.
func notFound(w http.ResponseWriter, r *http.Request, code string) {
	first := acceptedLanguage(r.Header.Get("Accept-Language"))
	if first == "" {
		first = "zh"
	}
	second := map[string]string{"zh": "ug", "ug": "zh"}[first]
	if len(code) > 40 {
		code = code[:40] + "…"
	}
	var b bytes.Buffer
	_ = notFoundTmpl.Execute(&b, map[string]any{"First": first, "Code": code,
		"Langs": []notFoundText{notFoundTexts[first], notFoundTexts[second]}})
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
