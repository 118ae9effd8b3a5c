package audio

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// WAV format tags this reader understands.
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
)

// maxWAVChannels bounds the downmix work an upload can demand.
const maxWAVChannels = 8

// WAVInfo describes a decoded file as it was, before downmix.
type WAVInfo struct {
	Format        int // WAVE format tag (after resolving WAVE_FORMAT_EXTENSIBLE)
	Channels      int
	Rate          int
	BitsPerSample int
	Frames        int
}

// DecodeWAV parses a complete RIFF/WAVE file: PCM 8/16/24/32-bit, IEEE float
// 32/64-bit, A-law and µ-law, any channel count up to 8 (downmixed to mono by
// averaging). It is strict — sizes must agree with the bytes present — since
// uploads face the outside. maxFrames bounds the decoded length (0 = no bound).
func DecodeWAV(data []byte, maxFrames int) (PCM, WAVInfo, error) {
	return decodeWAV(data, maxFrames, false)
}

// ReadWAV reads at most maxBytes from r and decodes it with DecodeWAV.
func ReadWAV(r io.Reader, maxBytes int64, maxFrames int) (PCM, WAVInfo, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return PCM{}, WAVInfo{}, fmt.Errorf("%w: reading: %v", ErrBadWAV, err)
	}
	if int64(len(data)) > maxBytes {
		return PCM{}, WAVInfo{}, fmt.Errorf("%w: over %d bytes", ErrClipTooLarge, maxBytes)
	}
	return DecodeWAV(data, maxFrames)
}

// decodeWAV with lenient=true accepts a data chunk whose declared size runs
// past the end of the bytes (espeak-ng writes a placeholder size when it
// streams to stdout) and a ragged final frame.
func decodeWAV(data []byte, maxFrames int, lenient bool) (PCM, WAVInfo, error) {
	var info WAVInfo
	bad := func(format string, a ...any) (PCM, WAVInfo, error) {
		return PCM{}, info, fmt.Errorf("%w: %s", ErrBadWAV, fmt.Sprintf(format, a...))
	}
	if len(data) < 12 {
		return bad("%d bytes is shorter than a RIFF header", len(data))
	}
	if string(data[0:4]) != "RIFF" {
		if string(data[0:4]) == "RIFX" || string(data[0:4]) == "RF64" {
			return bad("%q container is not supported (want little-endian RIFF)", data[0:4])
		}
		return bad("missing RIFF signature")
	}
	if string(data[8:12]) != "WAVE" {
		return bad("RIFF form is %q, want WAVE", data[8:12])
	}
	var (
		haveFmt    bool
		format     int
		blockAlign int
		pcmData    []byte
		haveData   bool
	)
	pos := 12
	for pos+8 <= len(data) {
		id := string(data[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(data[pos+4 : pos+8]))
		body := pos + 8
		end := int64(body) + size
		if end > int64(len(data)) {
			if !(lenient && id == "data") {
				return bad("chunk %q at byte %d declares %d bytes, only %d present", id, pos, size, len(data)-body)
			}
			end = int64(len(data))
		}
		chunk := data[body:end]
		switch id {
		case "fmt ":
			if haveFmt {
				return bad("second fmt chunk at byte %d", pos)
			}
			if len(chunk) < 16 {
				return bad("fmt chunk is %d bytes, want at least 16", len(chunk))
			}
			haveFmt = true
			format = int(binary.LittleEndian.Uint16(chunk[0:2]))
			info.Channels = int(binary.LittleEndian.Uint16(chunk[2:4]))
			info.Rate = int(binary.LittleEndian.Uint32(chunk[4:8]))
			blockAlign = int(binary.LittleEndian.Uint16(chunk[12:14]))
			info.BitsPerSample = int(binary.LittleEndian.Uint16(chunk[14:16]))
			if format == wavFormatExtensible {
				if len(chunk) < 40 {
					return bad("WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, want 40", len(chunk))
				}
				// The sub-format GUID starts with the plain format tag.
				format = int(binary.LittleEndian.Uint16(chunk[24:26]))
			}
			info.Format = format
		case "data":
			if !haveFmt {
				return bad("data chunk before fmt chunk")
			}
			if haveData {
				return bad("second data chunk at byte %d", pos)
			}
			haveData = true
			pcmData = chunk
		}
		next := end + size%2 // chunks are padded to even length
		if next > int64(len(data)) {
			next = int64(len(data))
		}
		pos = int(next)
	}
	if !haveFmt {
		return bad("no fmt chunk")
	}
	if !haveData {
		return bad("no data chunk")
	}
	if info.Channels < 1 || info.Channels > maxWAVChannels {
		return bad("%d channels (want 1..%d)", info.Channels, maxWAVChannels)
	}
	if err := checkRate("WAV sample rate", info.Rate); err != nil {
		return PCM{}, info, fmt.Errorf("%w (%w)", err, ErrBadWAV)
	}
	var decode func(b []byte) float64
	bits := info.BitsPerSample
	switch format {
	case wavFormatPCM:
		switch bits {
		case 8:
			decode = func(b []byte) float64 { return (float64(b[0]) - 128) / 128 }
		case 16:
			decode = func(b []byte) float64 { return float64(int16(binary.LittleEndian.Uint16(b))) / 32768 }
		case 24:
			decode = func(b []byte) float64 {
				v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
				return float64(v) / (1 << 23)
			}
		case 32:
			decode = func(b []byte) float64 { return float64(int32(binary.LittleEndian.Uint32(b))) / (1 << 31) }
		default:
			return bad("PCM with %d bits per sample (want 8, 16, 24 or 32)", bits)
		}
	case wavFormatFloat:
		switch bits {
		case 32:
			decode = func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
		case 64:
			decode = func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
		default:
			return bad("float with %d bits per sample (want 32 or 64)", bits)
		}
	case wavFormatMuLaw, wavFormatALaw:
		if bits != 8 {
			return bad("G.711 with %d bits per sample (want 8)", bits)
		}
		table := &muLawDecodeTable
		if format == wavFormatALaw {
			table = &aLawDecodeTable
		}
		decode = func(b []byte) float64 { return float64(table[b[0]]) / 32768 }
	default:
		return bad("format tag 0x%04x (want PCM, IEEE float, A-law or µ-law)", format)
	}
	sampleBytes := bits / 8
	if blockAlign != sampleBytes*info.Channels {
		return bad("block align %d, want %d for %d channels of %d bits", blockAlign, sampleBytes*info.Channels, info.Channels, bits)
	}
	if len(pcmData)%blockAlign != 0 {
		if !lenient {
			return bad("data chunk of %d bytes is not a whole number of %d-byte frames", len(pcmData), blockAlign)
		}
		pcmData = pcmData[:len(pcmData)-len(pcmData)%blockAlign]
	}
	frames := len(pcmData) / blockAlign
	if maxFrames > 0 && frames > maxFrames {
		return PCM{}, info, fmt.Errorf("%w: %d frames, limit %d", ErrClipTooLarge, frames, maxFrames)
	}
	info.Frames = frames
	out := make([]int16, frames)
	inv := 1 / float64(info.Channels)
	for i := range frames {
		frame := pcmData[i*blockAlign:]
		var sum float64
		for c := range info.Channels {
			v := decode(frame[c*sampleBytes:])
			if math.IsNaN(v) || math.IsInf(v, 0) {
				v = 0
			}
			sum += v
		}
		x := math.Round(sum * inv * 32768)
		if x > 32767 {
			x = 32767
		} else if x < -32768 {
			x = -32768
		}
		out[i] = int16(x)
	}
	return PCM{Rate: info.Rate, Samples: out}, info, nil
}

// EncodeWAV returns p as a canonical 44-byte-header PCM16 mono WAV file.
func EncodeWAV(p PCM) ([]byte, error) {
	out := make([]byte, 44+2*len(p.Samples))
	if err := putWAVHeader(out[:44], p); err != nil {
		return nil, err
	}
	putSamples(out[44:], p.Samples)
	return out, nil
}

// WriteWAV writes p as a canonical PCM16 mono WAV file.
func WriteWAV(w io.Writer, p PCM) error {
	h := make([]byte, 44)
	if err := putWAVHeader(h, p); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	body := make([]byte, 2*len(p.Samples))
	putSamples(body, p.Samples)
	_, err := w.Write(body)
	return err
}

// putWAVHeader fills h (44 bytes) with the header of p as a canonical PCM16
// mono WAV file.
func putWAVHeader(h []byte, p PCM) error {
	if err := checkRate("sample rate", p.Rate); err != nil {
		return err
	}
	dataLen := 2 * len(p.Samples)
	if int64(dataLen) > math.MaxUint32-36 {
		return fmt.Errorf("audio: %d samples do not fit a WAV file", len(p.Samples))
	}
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataLen))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], wavFormatPCM)
	binary.LittleEndian.PutUint16(h[22:], 1)
	binary.LittleEndian.PutUint32(h[24:], uint32(p.Rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(p.Rate*2))
	binary.LittleEndian.PutUint16(h[32:], 2)
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataLen))
	return nil
}

func putSamples(b []byte, samples []int16) {
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
}
