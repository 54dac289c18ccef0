"""Sources and sinks: one module per connector."""
