package speaker

import (
	"context"
	"errors"
	"sync"
)

// ErrUnknownDevice is returned by DeviceStore.Device for an id that was never
// enrolled.
var ErrUnknownDevice = errors.New("unknown speaker device")

// Device is an enrolled loudspeaker.
type Device struct {
	ID, Village    string
	CredentialHash []byte // HashCredential of the device's secret
	Revoked        bool
}

// DeviceStore looks up enrolled devices. dispatch's database store
// implements it; MemoryDevices is the in-memory one.
type DeviceStore interface {
	// Device returns the device, or an error wrapping ErrUnknownDevice.
	Device(ctx context.Context, id string) (Device, error)
}

// BatchDeviceStore is optionally implemented by a store that can look up
// many devices in one round trip; Send uses it for large batches. Ids not
// found are absent from the map.
type BatchDeviceStore interface {
	Devices(ctx context.Context, ids []string) (map[string]Device, error)
}

// MemoryDevices is a DeviceStore in memory, for tests, demos and load runs.
type MemoryDevices struct {
	mu sync.RWMutex
	m  map[string]Device
}

var (
	_ DeviceStore      = (*MemoryDevices)(nil)
	_ BatchDeviceStore = (*MemoryDevices)(nil)
)

// NewMemoryDevices returns an empty store.
func NewMemoryDevices() *MemoryDevices { return &MemoryDevices{m: map[string]Device{}} }

// Enroll adds or replaces a device and returns its new secret.
func (s *MemoryDevices) Enroll(id, village string) (secret string) {
	secret, hash := NewCredential()
	s.Put(Device{ID: id, Village: village, CredentialHash: hash})
	return secret
}

// Put stores d.
func (s *MemoryDevices) Put(d Device) {
	s.mu.Lock()
	s.m[d.ID] = d
	s.mu.Unlock()
}

// Revoke marks a device revoked.
func (s *MemoryDevices) Revoke(id string) {
	s.mu.Lock()
	if d, ok := s.m[id]; ok {
		d.Revoked = true
		s.m[id] = d
	}
	s.mu.Unlock()
}

// Device implements DeviceStore.
func (s *MemoryDevices) Device(_ context.Context, id string) (Device, error) {
	s.mu.RLock()
	d, ok := s.m[id]
	s.mu.RUnlock()
	if !ok {
		return Device{}, ErrUnknownDevice
	}
	return d, nil
}

// Devices implements BatchDeviceStore.
func (s *MemoryDevices) Devices(_ context.Context, ids []string) (map[string]Device, error) {
	out := make(map[string]Device, len(ids))
	s.mu.RLock()
	for _, id := range ids {
		if d, ok := s.m[id]; ok {
			out[id] = d
		}
	}
	s.mu.RUnlock()
	return out, nil
}
