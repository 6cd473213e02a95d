"""The API's routes, one module per resource; each ``router(services) -> APIRouter``."""
