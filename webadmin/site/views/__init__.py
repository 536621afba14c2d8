"""The blueprints of the site admin page, one per area, in navigation order."""

from __future__ import annotations

from webadmin.site.views.auth import bp as auth_bp
from webadmin.site.views.doors import bp as doors_bp
from webadmin.site.views.events import bp as events_bp
from webadmin.site.views.groups import bp as groups_bp
from webadmin.site.views.people import bp as people_bp
from webadmin.site.views.rules import bp as rules_bp

BLUEPRINTS = (auth_bp, people_bp, groups_bp, rules_bp, doors_bp, events_bp)
