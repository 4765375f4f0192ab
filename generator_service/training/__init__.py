"""Training the Expotion visual adapter: dataset preparation and loading (`dataset`), its command
line (`dataset_cli`), audio decoding for datasets (`audio_io`), and the training loop (`train`).

Heavy imports (torch, transformers, mediapipe, av) happen inside the functions that need them, so
importing this package is cheap.
"""
