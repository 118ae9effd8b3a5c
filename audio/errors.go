package audio

import "errors"

// Sentinel errors. Callers test with errors.Is; messages wrapping them name
// the field and the rule that was broken.
var (
	// ErrNoSynthesizer: no speech engine (espeak-ng missing, or a voice missing).
	ErrNoSynthesizer = errors.New("audio: no speech synthesizer available")
	// ErrSynthesis: the speech engine failed, crashed or hung past its time limit.
	ErrSynthesis = errors.New("audio: speech synthesis failed")
	// ErrInvalidProgramme: the programme breaks a rule (field named in the message).
	ErrInvalidProgramme = errors.New("audio: invalid programme")
	// ErrEmptyText: a speech segment has no speakable text.
	ErrEmptyText = errors.New("audio: empty text")
	// ErrTextTooLong: a speech segment or the whole programme is over the length limit.
	ErrTextTooLong = errors.New("audio: text too long")
	// ErrUnsupportedLanguage: a language other than zh or ug.
	ErrUnsupportedLanguage = errors.New("audio: unsupported language")
	// ErrBadWAV: the bytes are not a WAV file this package can read.
	ErrBadWAV = errors.New("audio: bad WAV")
	// ErrSampleRate: a sample rate outside the supported range.
	ErrSampleRate = errors.New("audio: unsupported sample rate")
	// ErrUnsupportedFormat: an upload in a format we refuse (e.g. MP3).
	ErrUnsupportedFormat = errors.New("audio: unsupported format")
	// ErrClipTooLarge: an upload over the byte or duration limit.
	ErrClipTooLarge = errors.New("audio: clip too large")
	// ErrSilentClip: an upload with no audible content.
	ErrSilentClip = errors.New("audio: clip is silent")
	// ErrNotFound: no rendered programme or clip with that hash.
	ErrNotFound = errors.New("audio: not found")
)
