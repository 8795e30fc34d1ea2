package logs

// multiSink hands every event to each of its sinks in order.
type multiSink []Sink

// Multi returns a Sink that emits every event to each of sinks, in order.
// Nil sinks are skipped.
func Multi(sinks ...Sink) Sink {
	var m multiSink
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	return m
}

func (m multiSink) Emit(e Event) {
	for _, s := range m {
		s.Emit(e)
	}
}
