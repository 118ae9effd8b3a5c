package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"net/http"

	"github.com/alertcast/alertcast/dispatch"
	"github.com/alertcast/alertcast/warning"
)

// Photo limits. A phone photo is 2–6 MB; what is kept is re-encoded at
// most photoMaxSide pixels on its long side, which is plenty to see a
// collapsed wall and keeps a warning's photos in the database small.
const (
	MaxPhotoBytes  = 12 << 20 // one upload
	maxPhotoPixels = 50_000_000
	photoMaxSide   = 2048
	thumbMaxSide   = 320
	photoQuality   = 82
	thumbQuality   = 75
)

// photoSlots bounds the photos decoded at once on this node: a 12 MP photo
// takes ~50 MB while it is scaled.
var photoSlots = make(chan struct{}, 2)

// processPhoto decodes an uploaded JPEG or PNG, turns it upright (EXIF
// orientation), scales it down and re-encodes it as JPEG with its
// thumbnail. Nothing of the upload but its pixels survives: EXIF (GPS
// position, device, owner), XMP, ICC and comments are dropped. field names
// the upload in errors ("photo", "photo[1]").
func processPhoto(ctx context.Context, field string, b []byte) (dispatch.StoredPhoto, error) {
	bad := func(rule string) error { return &warning.FieldError{Field: field, Rule: rule} }
	if len(b) == 0 {
		return dispatch.StoredPhoto{}, bad("empty file")
	}
	if len(b) > MaxPhotoBytes {
		return dispatch.StoredPhoto{}, bad(fmt.Sprintf("at most %d MB", MaxPhotoBytes>>20))
	}
	ct := http.DetectContentType(b)
	if ct != "image/jpeg" && ct != "image/png" {
		return dispatch.StoredPhoto{}, &warning.FieldError{Field: field, Rule: "a JPEG or PNG image", Value: ct}
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return dispatch.StoredPhoto{}, bad("not a readable JPEG or PNG: " + err.Error())
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPhotoPixels {
		return dispatch.StoredPhoto{}, &warning.FieldError{Field: field, Rule: fmt.Sprintf("at most %d megapixels", maxPhotoPixels/1_000_000),
			Value: fmt.Sprintf("%dx%d", cfg.Width, cfg.Height)}
	}
	select {
	case photoSlots <- struct{}{}:
	case <-ctx.Done():
		return dispatch.StoredPhoto{}, ctx.Err()
	}
	defer func() { <-photoSlots }()
	var img image.Image
	if ct == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(b))
	} else {
		img, err = png.Decode(bytes.NewReader(b))
	}
	if err != nil {
		return dispatch.StoredPhoto{}, bad("not a readable JPEG or PNG: " + err.Error())
	}
	orient := 1
	if ct == "image/jpeg" {
		orient = exifOrientation(b)
	}
	big := orientRGBA(scaleDown(img, photoMaxSide), orient)
	thumb := scaleDown(big, thumbMaxSide)
	var ob, tb bytes.Buffer
	if err := jpeg.Encode(&ob, big, &jpeg.Options{Quality: photoQuality}); err != nil {
		return dispatch.StoredPhoto{}, fmt.Errorf("encode photo: %w", err)
	}
	if err := jpeg.Encode(&tb, thumb, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return dispatch.StoredPhoto{}, fmt.Errorf("encode thumbnail: %w", err)
	}
	sum := sha256.Sum256(b)
	return dispatch.StoredPhoto{UploadSHA: hex.EncodeToString(sum[:]), Image: ob.Bytes(), Thumb: tb.Bytes(),
		Width: big.Bounds().Dx(), Height: big.Bounds().Dy()}, nil
}

// scaleDown returns img as RGBA with its long side at most max pixels,
// each output pixel the average of the source pixels it covers (a box
// filter: no aliasing on large reductions, and no dependency).
func scaleDown(img image.Image, max int) *image.RGBA {
	b := img.Bounds()
	src, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		src = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	}
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	if sw <= max && sh <= max {
		return src
	}
	dw, dh := max, sh*max/sw
	if sh > sw {
		dw, dh = sw*max/sh, max
	}
	dw, dh = maxInt(dw, 1), maxInt(dh, 1)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := y*sh/dh, maxInt((y+1)*sh/dh, y*sh/dh+1)
		for x := 0; x < dw; x++ {
			x0, x1 := x*sw/dw, maxInt((x+1)*sw/dw, x*sw/dw+1)
			var r, g, bl, a, n uint32
			for sy := y0; sy < y1; sy++ {
				row := src.Pix[sy*src.Stride:]
				for sx := x0; sx < x1; sx++ {
					p := row[sx*4 : sx*4+4]
					r, g, bl, a = r+uint32(p[0]), g+uint32(p[1]), bl+uint32(p[2]), a+uint32(p[3])
					n++
				}
			}
			o := dst.Pix[y*dst.Stride+x*4:]
			o[0], o[1], o[2], o[3] = uint8(r/n), uint8(g/n), uint8(bl/n), uint8(a/n)
		}
	}
	return dst
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// orientRGBA applies an EXIF orientation (1..8) so the image is upright
// once the tag is gone.
func orientRGBA(src *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return src
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // upside down
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored upside down
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // turned 90° clockwise to view
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // turned 90° counter-clockwise to view
				dx, dy = y, w-1-x
			}
			copy(dst.Pix[dy*dst.Stride+dx*4:dy*dst.Stride+dx*4+4], src.Pix[y*src.Stride+x*4:y*src.Stride+x*4+4])
		}
	}
	return dst
}

// exifOrientation reads the orientation tag (0x0112) of IFD0 from a JPEG's
// EXIF segment; 1 (upright) when there is none or it cannot be read. It
// reads only inside the bytes given, whatever the offsets say.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image: no more headers
			return 1
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}
