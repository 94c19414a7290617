"""asyncio transports and name resolution that drive the sans-I/O SIP core."""
