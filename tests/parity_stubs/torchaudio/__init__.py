"""Stand-in for torchaudio in the parity tests only (see ../README.md): importable, provides nothing."""
