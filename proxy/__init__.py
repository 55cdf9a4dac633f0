"""Warden: an inline AI governance reverse proxy."""
