"""WebRTC sessions of the Scope API: signalling, ICE, the data channel, one graph run each."""
