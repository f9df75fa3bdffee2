"""The HTTP API: the operator surface and the ingest edge (`automations api`)."""
