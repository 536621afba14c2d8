"""The blueprints of the admin web, one per area, in navigation order."""

from __future__ import annotations

from webadmin.views.alarms import bp as alarms_bp
from webadmin.views.audit import bp as audit_bp
from webadmin.views.auth import bp as auth_bp
from webadmin.views.dashboard import bp as dashboard_bp
from webadmin.views.door import bp as door_bp
from webadmin.views.groups import bp as groups_bp
from webadmin.views.log import bp as log_bp
from webadmin.views.panel import bp as panel_bp
from webadmin.views.people import bp as people_bp
from webadmin.views.review import bp as review_bp
from webadmin.views.settings import bp as settings_bp
from webadmin.views.staff import bp as staff_bp
from webadmin.views.visitors import bp as visitors_bp

BLUEPRINTS = (auth_bp, dashboard_bp, door_bp, people_bp, visitors_bp, groups_bp, log_bp, alarms_bp, audit_bp, review_bp, staff_bp, settings_bp, panel_bp)
