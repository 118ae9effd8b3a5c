// Package audio turns text into a broadcast programme for village
// loudspeakers and voice links: an attention signal that tells the level,
// the message spoken in Mandarin and Uyghur (or an uploaded recording),
// repeated, loudness-normalised, stored content-addressed on disk and served
// as PCM16 WAV or G.711 over HTTP.
//
// It is a leaf package. It knows text, voices, tones and formats — never
// warnings, channels, queues or storage of alerts — so the loudspeaker agent
// can import it and cross-compile for ARM with CGO_ENABLED=0. Everything here
// is pure Go; speech synthesis runs espeak-ng as a separate, time-limited
// process behind the Synthesizer interface.
//
// A programme is laid out as
//
//	( [drill intro] [attention signal] [clip] [speech zh] [pause] [speech ug] [pause] ) × Repeats
//
// The attention signals follow the reading residents know from the civil
// air defence sirens: every warning level is a pulsed cadence (faster,
// shorter and more pulses as the level rises), the all-clear is the only
// steady tone, a cancellation has its own falling figure, and a drill opens
// with high pips before anything else. SIGNALS.md has the table.
//
// and every sounding segment is brought to the same loudness: RMS over the
// active (non-silent) 20 ms frames at TargetRMSdBFS, sample peaks at or below
// PeakCeilingdBFS (a look-ahead limiter catches speech peaks).
//
// Where no synthesizer is available the renderer still produces the tone
// part and reports Rendered.ToneOnly=true: never silence, never a silent
// failure.
package audio
