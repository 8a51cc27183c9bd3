"""Image preparation: letterboxing into preallocated buffers."""
