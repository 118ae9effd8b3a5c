package alertd

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/alertcast/alertcast/audio"
	"github.com/alertcast/alertcast/channels/sms"
	"github.com/alertcast/alertcast/channels/voice"
	"github.com/alertcast/alertcast/channels/websocket"
	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/dispatch/api"
	"github.com/alertcast/alertcast/dispatch/lifecycle"
	"github.com/alertcast/alertcast/warning"
)

const sampleConfig = "../../deploy/alertcast.yaml"

// codeDefaults is what alertd runs with when a setting is left out: the
// Config defaults, and for a zero that a channel or the engine turns into
// a value, that value (named where the code keeps it).
func codeDefaults() (top Config) {
	top = Defaults()
	top.SendChunk = 200            // dispatch.EngineConfig: SendChunk <= 0 means 200
	top.CAP.Interval = time.Minute // cap.Poller: Interval 0 means one minute
	for _, l := range dispatch.DefaultPolicy().ApprovalLevels {
		top.Policy.ApprovalLevels = append(top.Policy.ApprovalLevels, l.String())
	}
	top.Policy.ApproveDrills = dispatch.DefaultPolicy().ApproveDrills
	for _, l := range dispatch.DefaultPolicy().ReasonRequiredLevels {
		top.Policy.ReasonRequiredLevels = append(top.Policy.ReasonRequiredLevels, l.String())
	}
	top.SessionLifetime = api.DefaultSessionLifetime
	top.AuditVerifyInterval = defaultAuditVerifyInterval
	// LoginLimits.WithDefaults, except the hash bounds that follow the
	// machine's cores (0 in the sample means exactly that).
	top.Login = api.LoginLimits{}.WithDefaults()
	top.Login.HashSlots, top.Login.HashQueue = 0, 0
	// dispatch.RateLimits: 0 means 20 rps burst 100 per credential, 5 rps
	// burst 30 per anonymous address.
	top.RateLimits = api.RateLimits{TokenRPS: 20, TokenBurst: 100, AddressRPS: 5, AddressBurst: 30}
	yes := true
	// on(nil) is true: every hub is on unless switched off.
	top.Speakers = SpeakersConfig{Enabled: &yes}
	// channels/websocket/config.go: HistoryLen <= 0 → 1000, MaxConnsPerIP 0 → 256, LiftedFor 0 → 24h.
	top.Web = WebSocketConfig{Enabled: &yes, HistoryLen: 1000, MaxConnsPerIP: 256, LiftedFor: websocket.DefaultLiftedFor}
	top.Voice = voiceDefaults()
	// audio.NewEspeak: Binary "" → espeak-ng, Speed 0 → 140; voices and repeats exported.
	top.Audio = AudioConfig{Espeak: "espeak-ng", Speed: 140, Repeats: audio.DefaultRepeats,
		EspeakVoiceZh: audio.DefaultVoices[audio.LangZh], EspeakVoiceUg: audio.DefaultVoices[audio.LangUg]}
	top.SMS = sms.Config{Signature: sms.DefaultSignature, MaxParts: sms.DefaultMaxParts, DrillMarker: sms.DefaultDrillMarker,
		DefaultLanguage: sms.DefaultLanguage, Attempts: sms.DefaultAttempts}
	return top
}

// voiceDefaults is the voice section as alertd runs it: the threshold
// policy from voice.DefaultLivePolicy, a 2 min approval timeout
// (voice.Config), recording on.
func voiceDefaults() VoiceConfig {
	yes := true
	p := voice.DefaultLivePolicy()
	levels := []string{}
	for _, l := range p.Levels {
		levels = append(levels, warning.Level(l).String())
	}
	max := p.MaxTownships
	return VoiceConfig{Enabled: &yes, VoiceLiveConfig: VoiceLiveConfig{LiveApprovalLevels: &levels, LiveApprovalCountyWide: &p.CountyWide,
		LiveApprovalMaxTownships: &max, LiveApprovalTimeout: 2 * time.Minute, Record: &yes}}
}

// deliberate lists the settings the sample sets to something other than
// the default on purpose; its comment must still name the default.
var deliberate = map[string]string{
	// The systemd units run alertd from / with ProtectSystem=strict and
	// StateDirectory=alertcast: the data must be in /var/lib/alertcast.
	"data_dir": "/var/lib/alertcast",
}

// TestSampleConfigDocumentsTheDefaults loads deploy/alertcast.yaml as alertd
// does and checks that it documents every setting of Config and of the
// channel sections, with the value the code uses when it is left out — so
// the sample ("every setting below shows its default") cannot drift from
// the code, as max_parts: 4 against DefaultMaxParts 5 once did.
func TestSampleConfigDocumentsTheDefaults(t *testing.T) {
	path, err := filepath.Abs(sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{"--config", path}, func(string) string { return "" }); err != nil {
		t.Fatalf("alertd does not load the sample: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	problems, checked, err := sampleProblems(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", sampleConfig, p)
	}
	if checked < 40 {
		t.Errorf("only %d settings compared: the walk missed sections", checked)
	}
}

// TestSampleConfigCheckCatchesDrift: the check is not vacuous — a wrong
// default, a missing setting, a stray key and an undocumented deliberate
// value in the sample are each reported.
func TestSampleConfigCheckCatchesDrift(t *testing.T) {
	b, err := os.ReadFile(sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, edit := range []struct{ old, new string }{
		{"  max_parts: 5 ", "  max_parts: 4 "},
		{"  attempts: 5", "  bogus: 5"},
		{"\n  history_len: 1000", "\n  history_len: 500"},
		{"listen: 127.0.0.1:8080", "listen: 0.0.0.0:8080"},
	} {
		if !strings.Contains(s, edit.old) {
			t.Fatalf("sample lacks %q to edit", edit.old)
		}
		s = strings.Replace(s, edit.old, edit.new, 1)
	}
	problems, _, err := sampleProblems([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		"sms.max_parts: the sample says 4, the code's default is 5",
		"sms.attempts: not in the sample",
		"sms.bogus (line",
		"websocket.history_len: the sample says 500, the code's default is 1000",
		`listen: the sample says "0.0.0.0:8080", the code's default is "127.0.0.1:8080"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("drift not reported: %q\nreported:\n%s", want, all)
		}
	}
	if len(problems) != 5 {
		t.Errorf("%d problems, want 5:\n%s", len(problems), all)
	}
}

// sampleProblems compares a sample config with codeDefaults, returning one
// line per difference and how many settings it compared.
func sampleProblems(b []byte) (problems []string, checked int, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, 0, err
	}
	if len(doc.Content) == 0 {
		return nil, 0, fmt.Errorf("empty sample")
	}
	top := codeDefaults()
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	var walk func(prefix string, m *yaml.Node, want reflect.Value)
	walk = func(prefix string, m *yaml.Node, want reflect.Value) {
		if m.Kind != yaml.MappingNode {
			bad("%s: a mapping expected", strings.TrimSuffix(prefix, "."))
			return
		}
		known := map[string]bool{}
		fields, values := flatFields(want)
		for i := range fields {
			f := fields[i]
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			known[name] = true
			key := prefix + name
			k, v := lookup(m, name)
			if v == nil {
				bad("%s: not in the sample; document it with its default (%s)", key, show(values[i].Interface()))
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(key+".", v, values[i])
				continue
			}
			got := reflect.New(f.Type)
			if err := v.Decode(got.Interface()); err != nil {
				bad("%s: %v", key, err)
				continue
			}
			checked++
			if d, ok := deliberate[key]; ok {
				if got.Elem().Interface() != d {
					bad("%s: %s, the sample's deliberate value is %q", key, show(got.Elem().Interface()), d)
				}
				if def := fmt.Sprint(values[i].Interface()); !strings.Contains(k.HeadComment+k.LineComment+v.LineComment, def) {
					bad("%s: set to %q on purpose, but its comment does not name the default %q", key, d, def)
				}
				continue
			}
			if !sameValue(got.Elem(), values[i]) {
				bad("%s: the sample says %s, the code's default is %s", key, show(got.Elem().Interface()), show(values[i].Interface()))
			}
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if name := m.Content[i].Value; !known[name] {
				bad("%s%s (line %d): not a setting alertd reads", prefix, name, m.Content[i].Line)
			}
		}
	}
	walk("", doc.Content[0], reflect.ValueOf(top))
	return problems, checked, nil
}

// flatFields lists a struct's fields with yaml ",inline" structs expanded
// in place, as yaml.v3 decodes them.
func flatFields(v reflect.Value) ([]reflect.StructField, []reflect.Value) {
	var fs []reflect.StructField
	var vs []reflect.Value
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if _, opts, _ := strings.Cut(f.Tag.Get("yaml"), ","); opts == "inline" && f.Type.Kind() == reflect.Struct {
			ifs, ivs := flatFields(v.Field(i))
			fs, vs = append(fs, ifs...), append(vs, ivs...)
			continue
		}
		fs, vs = append(fs, f), append(vs, v.Field(i))
	}
	return fs, vs
}

func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// sameValue is reflect.DeepEqual with an empty list or map equal to none.
func sameValue(a, b reflect.Value) bool {
	if (a.Kind() == reflect.Slice || a.Kind() == reflect.Map) && a.Len() == 0 && b.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}

func show(v any) string {
	switch x := v.(type) {
	case *bool:
		if x == nil {
			return "unset"
		}
		return fmt.Sprint(*x)
	case string:
		return fmt.Sprintf("%q", x)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return fmt.Sprintf("%v", rv.Elem().Interface())
	}
	return fmt.Sprintf("%v", v)
}

// TestSampleConfigExamplesUseRealKeys: the commented examples (SMS
// gateways, CAP rules) decode strictly once uncommented, so an officer who
// copies one gets no "field not found".
func TestSampleConfigExamplesUseRealKeys(t *testing.T) {
	b, err := os.ReadFile(sampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	// example returns the commented block right after the line "  key: []".
	example := func(key string) string {
		for i, l := range lines {
			if strings.TrimSpace(l) != key+": []" {
				continue
			}
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			var out []string
			for _, c := range lines[i+1:] {
				if !strings.HasPrefix(c, indent+"# ") {
					break
				}
				out = append(out, indent+strings.TrimPrefix(c, indent+"# "))
			}
			return key + ":\n" + strings.Join(out, "\n")
		}
		return ""
	}
	strict := func(text string, v any) error {
		dec := yaml.NewDecoder(strings.NewReader(text))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
	var gws struct {
		Gateways []sms.GatewayConfig `yaml:"gateways"`
	}
	if err := strict(example("gateways"), &gws); err != nil || len(gws.Gateways) < 2 {
		t.Errorf("sms.gateways example: %d gateways, %v\n%s", len(gws.Gateways), err, example("gateways"))
	}
	if err := (sms.Config{Gateways: gws.Gateways}).Validate(); err != nil {
		t.Errorf("sms.gateways example does not validate: %v", err)
	}
	var rules struct {
		Rules []lifecycle.CAPRule `yaml:"rules"`
	}
	if err := strict(example("rules"), &rules); err != nil || len(rules.Rules) < 1 {
		t.Errorf("cap.rules example: %d rules, %v\n%s", len(rules.Rules), err, example("rules"))
	}
}
