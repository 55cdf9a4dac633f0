"""Load benchmark: Warden against the upstream directly and a minimal aiohttp pass-through."""
