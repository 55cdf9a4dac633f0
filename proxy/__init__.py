"""Warden: an inline AI governance reverse proxy."""

from proxy.compiled import use_current_build

# Before any other module of the package is imported: which build of it this process runs.
BUILD = use_current_build()
