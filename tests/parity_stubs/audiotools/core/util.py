"""Stand-in for audiotools.core.util (unused by the parity tests)."""
