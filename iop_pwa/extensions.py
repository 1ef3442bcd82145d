"""Extensions made once at import and bound to the app in `create_app` (no side effects)."""

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
htmx = HTMX()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
