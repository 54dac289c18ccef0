"""The e-commerce applications users run first: revenue (and, later, fraud detection)."""
