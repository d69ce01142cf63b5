"""Configuration: process settings from the environment and the tenants file.

Dependencies flow one way: ``config`` <- ``integrations`` <- ``worker``. Nothing here imports
the other packages.
"""

from config.errors import SettingsError
from config.settings import Settings
from config.tenants import Tenant, Tenants, load_tenants

__all__ = ["Settings", "SettingsError", "Tenant", "Tenants", "load_tenants"]
