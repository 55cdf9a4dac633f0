"""Incidents: opened from enforced blocks by the audit writer's hook, or by administrators."""

from proxy.incidents.from_blocks import BlockIncidents
from proxy.incidents.settings import IncidentSettings

__all__ = ["BlockIncidents", "IncidentSettings"]
