"""Unbound extension singletons, bound to the app in create_app (microblog, FlaskBB)."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from ptap.core.models import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Limits are declared per route; no default limit so static files and the API are not counted.
limiter = Limiter(key_func=get_remote_address)
# Threading mode chosen explicitly: eventlet is auto-selected when importable (see STACK-NOTES).
socketio = SocketIO(async_mode="threading")
