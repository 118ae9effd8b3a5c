package audio_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/alertcast/alertcast/audio"
)

// Example shows the wiring alertd does: espeak-ng if installed (tone-only,
// said loudly, if not), a renderer on a cache directory, the handler under
// /audio/, and a programme rendered for a red sandstorm warning.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	dir, _ := os.MkdirTemp("", "audio-example-*")
	defer os.RemoveAll(dir)

	synth, err := audio.NewEspeak(audio.EspeakConfig{})
	if errors.Is(err, audio.ErrNoSynthesizer) {
		logger.Warn("speech disabled: programmes will be tone-only", "err", err)
	}
	r, err := audio.NewRenderer(audio.Config{Dir: dir, Synth: synth, Logger: logger})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/audio/", http.StripPrefix("/audio", r.Handler()))

	p := audio.Programme{
		Attention: audio.SignalRed,
		Speech: []audio.Segment{
			{Lang: audio.LangZh, Text: "沙尘暴红色预警：今天18:00起有8级大风，请立即回家。"},
			{Lang: audio.LangUg, Text: "قۇم-بوران قىزىل ئاگاھلاندۇرۇشى: دەرھال ئۆيگە قايتىڭ."},
		},
	}
	res, err := r.Render(context.Background(), p)
	if err != nil {
		panic(err)
	}
	// The speaker command carries res.SHA256; the device fetches
	// /audio/<sha>.wav and checks the bytes hash to it.
	fmt.Println(len(res.SHA256), res.Layout[0].Kind, res.Layout[0].Signal, res.Layout[0].Duration)
	// Output: 64 attention red 14.5s
}
