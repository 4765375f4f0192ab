"""HTTP API of the generator service (FastAPI): app factory, routes, errors, settings, guards, SSE.

`create_app(ServiceSettings(...))` builds the app; `python -m generator_service serve` runs it with
uvicorn. Importing this package does not import torch (models load lazily in the job worker).
"""

from .app import create_app
from .settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]
