package warning

import (
	"fmt"
	"strings"
)

// Event is a hazard type from the documented code list below. The codes
// follow the categories of China's national early-warning information
// release system (国家预警信息发布) as used by county emergency bureaus.
type Event int

// The code list. Append only: the numbers are stored.
const (
	EventUnknown Event = iota
	EventSandstorm
	EventRainstorm
	EventHail
	EventGale
	EventColdWave
	EventHeat
	EventFlood
	EventEarthquake
	EventGeological
	EventForestFire
	EventGrasslandFire
	EventHazardousChemicals
	EventPublicHealth
	EventBlizzard
	EventFrost
	EventDrought
	EventFog
	EventLightning
	EventRoadIcing
	EventDamFailure
	EventOther
)

// EventInfo documents one event code.
type EventInfo struct {
	Event   Event  `json:"-"`
	Code    string `json:"code"`
	Chinese string `json:"zh"`
	English string `json:"en"`
	// CAPCategory is the CAP 1.2 <category> for the event.
	CAPCategory string `json:"cap_category"`
}

var eventTable = []EventInfo{
	{EventUnknown, "unknown", "", "Unknown", "Other"},
	{EventSandstorm, "sandstorm", "沙尘暴", "Sandstorm", "Met"},
	{EventRainstorm, "rainstorm", "暴雨", "Rainstorm", "Met"},
	{EventHail, "hail", "冰雹", "Hail", "Met"},
	{EventGale, "gale", "大风", "Gale", "Met"},
	{EventColdWave, "cold_wave", "寒潮", "Cold wave", "Met"},
	{EventHeat, "heat", "高温", "Heat wave", "Met"},
	{EventFlood, "flood", "洪水", "Flood", "Met"},
	{EventEarthquake, "earthquake", "地震", "Earthquake", "Geo"},
	{EventGeological, "geological", "地质灾害", "Geological hazard (landslide, debris flow)", "Geo"},
	{EventForestFire, "forest_fire", "森林火灾", "Forest fire", "Fire"},
	{EventGrasslandFire, "grassland_fire", "草原火灾", "Grassland fire", "Fire"},
	{EventHazardousChemicals, "hazardous_chemicals", "危险化学品事故", "Hazardous chemicals accident", "CBRNE"},
	{EventPublicHealth, "public_health", "公共卫生事件", "Public health event", "Health"},
	{EventBlizzard, "blizzard", "暴雪", "Blizzard", "Met"},
	{EventFrost, "frost", "霜冻", "Frost", "Met"},
	{EventDrought, "drought", "干旱", "Drought", "Met"},
	{EventFog, "fog", "大雾", "Dense fog", "Met"},
	{EventLightning, "lightning", "雷电", "Lightning", "Met"},
	{EventRoadIcing, "road_icing", "道路结冰", "Road icing", "Transport"},
	{EventDamFailure, "dam_failure", "水库溃坝", "Dam failure", "Infra"},
	{EventOther, "other", "其他", "Other", "Other"},
}

// Events lists every known event (without Unknown), for the API and console.
func Events() []EventInfo { return append([]EventInfo(nil), eventTable[1:]...) }

// Info returns the documentation row of e.
func (e Event) Info() EventInfo {
	if e <= EventUnknown || int(e) >= len(eventTable) {
		return eventTable[0]
	}
	return eventTable[e]
}

func (e Event) String() string { return e.Info().Code }

// Chinese is the event's Chinese name, e.g. 沙尘暴.
func (e Event) Chinese() string { return e.Info().Chinese }

// ParseEvent accepts the code ("cold_wave"), the Chinese name ("寒潮") or the
// English name, case-insensitively.
func ParseEvent(s string) (Event, error) {
	t := strings.TrimSpace(s)
	norm := strings.ReplaceAll(strings.ToLower(t), "-", "_")
	for _, ei := range eventTable[1:] {
		if norm == ei.Code || t == ei.Chinese || strings.EqualFold(t, ei.English) {
			return ei.Event, nil
		}
	}
	return EventUnknown, fmt.Errorf("unknown event %q: see GET /api/v1/events for the code list", s)
}

func (e Event) MarshalText() ([]byte, error) { return []byte(e.String()), nil }
func (e *Event) UnmarshalText(b []byte) error {
	v, err := ParseEvent(string(b))
	*e = v
	return err
}
