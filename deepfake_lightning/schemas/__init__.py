"""JSON schemas shipped with the package."""
