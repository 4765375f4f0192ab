"""The Expotion protocol: what the generator service and the Blender extension say to each other.

Standard library only, so that the extension can bundle it as a wheel (blender_manifest.toml `wheels`)
and the service can depend on it: one definition of the job parameters and their rules (`params`),
of the request/response shapes (`shapes`), of the wire encodings (`wire`), of the feature layout
(`features`) and of the error base (`errors`).
"""

__version__ = "0.1.0"
