"""The correlate API: join a trace's Jaeger spans with its logs."""
