"""Presence and alerts on the devices pages: the device page's "Presence and alerts"
card (its presence now and its last transitions, its open alerts, its recent alert
events) and the fleet page's Alerts column and the box above the table.

Alerts are kept per webhook (docs/ALERTS.md): a tenant with no webhook has no
alerts, and the pages say so rather than show an all-clear.
"""

from __future__ import annotations

from typing import Any

from control_api.deps import Deps
from control_api.panel import alert_views as views
from control_api.panel.device_views import DeviceRow
from control_api.services import alerts, presence

RECENT_TRANSITIONS = 10
RECENT_EVENTS = 10
FLEET_BOX = 20  # devices the fleet page's box names


def device_context(deps: Deps, tenant_id: str, device: Any, row: DeviceRow) -> dict[str, Any]:
    """The device page's "Presence and alerts" card."""
    interval_s = deps.settings.telemetry_interval_s
    transitions = presence.list_presence_events(
        deps.db, tenant_id, device.id, RECENT_TRANSITIONS, None
    )
    return {
        "presence_now": views.presence_now(device, row, deps.now(), interval_s),
        "transitions": transitions.items,
        "device_alerts": alerts.device_alert_summary(deps.db, tenant_id, device.id, RECENT_EVENTS),
        "alert_views": views,
    }


def fleet_context(
    deps: Deps, tenant_id: str, device_ids: list[str], *, with_box: bool
) -> dict[str, Any]:
    """The table's open alerts by device, and with ``with_box`` (a whole page, not an
    htmx swap of the table) the tenant's devices with open alerts."""
    if not with_box:
        by_device = alerts.open_alerts_by_device(deps.db, tenant_id, device_ids)
        return {"alerts_by_device": by_device, "alert_views": views}
    fleet = alerts.fleet_alerts(deps.db, tenant_id, device_ids, FLEET_BOX)
    return {"alerts_by_device": fleet.by_device, "fleet_alerts": fleet, "alert_views": views}
