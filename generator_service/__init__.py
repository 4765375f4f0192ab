"""Expotion generator service: video in, music that follows the performer out.

Heavy libraries (torch, transformers, mediapipe, av) are imported lazily inside the functions
that need them, so importing this package (and the API layer) takes milliseconds.
"""

__version__ = "0.1.0"
