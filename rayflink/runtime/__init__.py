"""The runtime: job master actor, task actors, channels, flow control, metrics."""
