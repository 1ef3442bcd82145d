"""Entry point: `gunicorn app:app`, `flask --app app ...`."""

from iop_pwa import create_app

app = create_app()
