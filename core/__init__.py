"""The shared core: settings, the Temporal connection with its codec, logging, private files, request dependencies."""
