package dispatch

// SpeakerVillage is the village of a loudspeaker in the device registry:
// the engine groups a batch's loudspeakers by their village's guidance.
func (r *PopulationIndex) SpeakerVillage(id string) (string, bool) {
	s, ok := r.ix.Speaker(id)
	return s.Village, ok
}
