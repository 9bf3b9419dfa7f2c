"""Run the monolith: ``python -m targets.monolith`` (configured by environment variables)."""

from __future__ import annotations

from targets.common.serve import serve
from targets.monolith.app import create_app

if __name__ == "__main__":
    serve(create_app, require=("DATABASE_URL", "ADMIN_PASSWORD"))
