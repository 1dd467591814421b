"""Extension objects, created unbound here and bound to the app in `create_app`."""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
