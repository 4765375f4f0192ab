"""Music models: loading (hub id, local dir, built-in tiny), the conditioning seam, the adapter."""
