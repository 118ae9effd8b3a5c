package audio

import "context"

// Synthesizer turns text in one language into speech. Implementations must
// honour ctx (cancellation and deadline), be safe for concurrent use, and
// return ErrUnsupportedLanguage for a language they cannot speak.
//
// The text given is already normalised by NormalizeText (numbers, times and
// units written out in words). Name identifies the engine, its version and
// voices: it is part of the cache key, so a new voice renders afresh.
//
// Espeak (espeak-ng as a process) is the built-in engine; a neural TTS
// service over HTTP fits the same interface.
type Synthesizer interface {
	Synthesize(ctx context.Context, lang, text string) (PCM, error)
	Name() string
}
