package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Ogg (RFC 3533) page writing for recordings of WebRTC voice: Opus packets
// as they arrive from RTP go into Ogg pages with OpusHead/OpusTags headers
// (RFC 7845). pion's pkg/media/oggwriter does the same straight from
// *rtp.Packet and is the better fit inside a pion track handler; OggWriter
// here is the codec-neutral core (any packets, any granule clock) for code
// that already holds payloads. There is no standard Ogg mapping for G.711:
// record PCMU/PCMA as WAV with EncodeG711WAV instead, which sox and every
// player read.

const (
	oggFlagContinued = 0x01
	oggFlagBOS       = 0x02
	oggFlagEOS       = 0x04
	oggMaxSegments   = 255
)

var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, v := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^v]
	}
	return crc
}

// OggWriter writes one logical Ogg stream. Each packet goes on its own
// page(s); the last packet written before Close is flagged end-of-stream.
type OggWriter struct {
	w       io.Writer
	serial  uint32
	seq     uint32
	started bool
	closed  bool
	pending []byte
	pendGP  uint64
	hasPend bool
}

// NewOggWriter starts a stream with the given serial number.
func NewOggWriter(w io.Writer, serial uint32) *OggWriter {
	return &OggWriter{w: w, serial: serial}
}

// WritePacket queues packet whose last sample ends at granule (for Opus:
// 48 kHz samples including pre-skip; header packets use 0).
func (o *OggWriter) WritePacket(packet []byte, granule uint64) error {
	if o.closed {
		return errors.New("audio: ogg: write after Close")
	}
	if o.hasPend {
		if err := o.flush(false); err != nil {
			return err
		}
	}
	o.pending = append(o.pending[:0], packet...)
	o.pendGP = granule
	o.hasPend = true
	return nil
}

// Close writes the last packet with the end-of-stream flag. Safe twice.
func (o *OggWriter) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	if !o.hasPend {
		if !o.started {
			return nil
		}
		// Nothing left to carry the flag: an empty EOS page.
		return o.page(nil, nil, o.pendGP, oggFlagEOS)
	}
	return o.flush(true)
}

func (o *OggWriter) flush(eos bool) error {
	p := o.pending
	o.hasPend = false
	// Lacing: 255-byte segments and a final shorter one (0 if the length is a
	// multiple of 255), split over pages of at most 255 segments.
	var lacing []byte
	for n := len(p); ; n -= 255 {
		if n >= 255 {
			lacing = append(lacing, 255)
			continue
		}
		lacing = append(lacing, byte(n))
		break
	}
	flags := byte(0)
	for len(lacing) > 0 {
		nseg := min(len(lacing), oggMaxSegments)
		segs := lacing[:nseg]
		size := 0
		for _, s := range segs {
			size += int(s)
		}
		last := nseg == len(lacing)
		gp := o.pendGP
		if !last {
			gp = ^uint64(0) // no packet finishes on this page
		}
		f := flags
		if last && eos {
			f |= oggFlagEOS
		}
		if err := o.page(segs, p[:size], gp, f); err != nil {
			return err
		}
		p = p[size:]
		lacing = lacing[nseg:]
		flags = oggFlagContinued
	}
	return nil
}

func (o *OggWriter) page(segs, data []byte, granule uint64, flags byte) error {
	if !o.started {
		flags |= oggFlagBOS
		o.started = true
	}
	h := make([]byte, 27+len(segs), 27+len(segs)+len(data))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], granule)
	binary.LittleEndian.PutUint32(h[14:], o.serial)
	binary.LittleEndian.PutUint32(h[18:], o.seq)
	h[26] = byte(len(segs))
	copy(h[27:], segs)
	page := append(h, data...)
	binary.LittleEndian.PutUint32(page[22:], oggCRC(page))
	o.seq++
	_, err := o.w.Write(page)
	return err
}

// OpusHead builds the RFC 7845 identification header (mapping family 0).
func OpusHead(channels int, preSkip uint16, inputRate uint32) ([]byte, error) {
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("audio: OpusHead: %d channels (want 1 or 2 for mapping family 0)", channels)
	}
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1
	b[9] = byte(channels)
	binary.LittleEndian.PutUint16(b[10:], preSkip)
	binary.LittleEndian.PutUint32(b[12:], inputRate)
	return b, nil
}

// OpusTags builds the RFC 7845 comment header.
func OpusTags(vendor string, comments ...string) []byte {
	b := []byte("OpusTags")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(comments)))
	for _, c := range comments {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return b
}

// EncodeG711WAV writes p, resampled to 8 kHz, as a µ-law (FormatPCMU) or
// A-law (FormatPCMA) WAV file: the container for G.711 recordings.
func EncodeG711WAV(p PCM, f Format) ([]byte, error) {
	g, err := EncodeG711(p, f)
	if err != nil {
		return nil, err
	}
	tag := uint16(wavFormatMuLaw)
	if f == FormatPCMA {
		tag = wavFormatALaw
	}
	// Non-PCM formats carry cbSize and a fact chunk.
	h := make([]byte, 0, 58+len(g)+1)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(50+len(g)+len(g)%2))
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 18)
	h = binary.LittleEndian.AppendUint16(h, tag)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint32(h, G711Rate)
	h = binary.LittleEndian.AppendUint32(h, G711Rate)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint16(h, 8)
	h = binary.LittleEndian.AppendUint16(h, 0)
	h = append(h, "fact"...)
	h = binary.LittleEndian.AppendUint32(h, 4)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(g)))
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(g)))
	h = append(h, g...)
	if len(g)%2 == 1 {
		h = append(h, 0)
	}
	return h, nil
}
