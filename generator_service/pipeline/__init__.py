"""The scoring pipeline: decode -> features -> alignment -> generate -> exact-length audio."""
