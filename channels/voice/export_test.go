package voice

// FreezeCluster makes s stop renewing its lease and stop answering the
// bus, as a crashed node would, while its sockets stay open (tests).
func (s *Server) FreezeCluster() { s.cluster.freeze() }

// ThawCluster brings a frozen server back: it renews its lease again.
func (s *Server) ThawCluster() { s.cluster.thaw() }
