package audio

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// TestOggWriterReadByPion: pion's independent Ogg reader (which checks page
// CRCs) parses what we write: OpusHead first, then packets with their
// granule positions, the last page flagged end-of-stream.
func TestOggWriterReadByPion(t *testing.T) {
	var buf bytes.Buffer
	w := NewOggWriter(&buf, 0x1234)
	head, err := OpusHead(1, 312, 48000)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WritePacket(head, 0))
	must(w.WritePacket(OpusTags("alertcast", "TITLE=drill"), 0))
	// Packets of awkward sizes: 0, exactly 255, and one spanning two pages.
	sizes := []int{0, 1, 254, 255, 256, 510, 70000}
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		must(w.WritePacket(p, uint64(960*(i+1))))
	}
	must(w.Close())
	must(w.Close()) // safe twice
	if err := w.WritePacket([]byte{1}, 1); err == nil {
		t.Error("write after Close accepted")
	}

	r, header, err := oggreader.NewWith(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("pion oggreader: %v", err)
	}
	if header.Channels != 1 || header.PreSkip != 312 || header.SampleRate != 48000 || header.Version != 1 {
		t.Errorf("OpusHead as read: %+v", header)
	}
	var pages []*oggreader.OggPageHeader
	var payload []byte
	for {
		seg, ph, err := r.ParseNextPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page %d: %v", len(pages), err)
		}
		pages = append(pages, ph)
		payload = append(payload, seg...)
	}
	total := len(OpusTags("alertcast", "TITLE=drill"))
	for _, n := range sizes {
		total += n
	}
	if len(payload) != total {
		t.Errorf("read %d payload bytes, wrote %d", len(payload), total)
	}
	last := pages[len(pages)-1]
	if last.GranulePosition != 960*uint64(len(sizes)) {
		t.Errorf("last granule %d", last.GranulePosition)
	}
	for i, p := range pages {
		if p.Serial != 0x1234 {
			t.Errorf("page %d: serial %#x", i, p.Serial)
		}
	}
	// Page sequence numbers count up from 0 without gaps.
	seq := uint32(0)
	for off := 0; off < buf.Len(); {
		i := bytes.Index(buf.Bytes()[off:], []byte("OggS"))
		if i < 0 {
			break
		}
		at := off + i
		if got := binary.LittleEndian.Uint32(buf.Bytes()[at+18:]); got != seq {
			t.Fatalf("page at %d has sequence %d, want %d", at, got, seq)
		}
		n := int(buf.Bytes()[at+26])
		size := 27 + n
		for _, l := range buf.Bytes()[at+27 : at+27+n] {
			size += int(l)
		}
		off = at + size
		seq++
	}
	raw := buf.Bytes()
	if raw[5]&oggFlagBOS == 0 {
		t.Error("first page lacks BOS")
	}
	// The final page is the EOS one.
	lastStart := bytes.LastIndex(raw, []byte("OggS"))
	if raw[lastStart+5]&oggFlagEOS == 0 {
		t.Error("last page lacks EOS")
	}
	if _, err := OpusHead(3, 0, 48000); err == nil {
		t.Error("3-channel OpusHead with family 0 accepted")
	}
}
