"""The embedded stand-in stack, the demo services and the Jaeger-format span writer."""
