// Package devices serves the channels' device registries from dispatch's
// store: the loudspeaker hub asks it who a device is and what its credential
// hash is. It owns no data of its own and must never send or decide anything.
package devices

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/alertcast/alertcast/channels/speaker"
	"github.com/alertcast/alertcast/dispatch"
)

// SpeakerDevices serves the loudspeaker hub the enrolled devices and their
// credentials from the store (speaker.DeviceStore and BatchDeviceStore), so
// the hub asks dispatch, never the composition root, who a device is.
type SpeakerDevices struct{ Store *dispatch.Store }

var (
	_ speaker.DeviceStore      = SpeakerDevices{}
	_ speaker.BatchDeviceStore = SpeakerDevices{}
)

// Device returns one device, or an error wrapping speaker.ErrUnknownDevice.
func (d SpeakerDevices) Device(ctx context.Context, id string) (speaker.Device, error) {
	r, err := d.Store.Speaker(ctx, id)
	if errors.Is(err, dispatch.ErrNotFound) {
		return speaker.Device{}, fmt.Errorf("%w: %s", speaker.ErrUnknownDevice, id)
	}
	if err != nil {
		return speaker.Device{}, err
	}
	return deviceOf(r), nil
}

// Devices looks up a batch's loudspeakers in a few queries, not one each.
func (d SpeakerDevices) Devices(ctx context.Context, ids []string) (map[string]speaker.Device, error) {
	recs, err := d.Store.SpeakersByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]speaker.Device, len(recs))
	for id, r := range recs {
		out[id] = deviceOf(r)
	}
	return out, nil
}

func deviceOf(r dispatch.SpeakerRecord) speaker.Device {
	hash, _ := hex.DecodeString(r.CredentialHash)
	return speaker.Device{ID: r.ID, Village: r.Village, CredentialHash: hash, Revoked: r.Revoked}
}
