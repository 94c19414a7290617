"""Diagnostics in the spirit of sipsak: traceroute, MESSAGE, usrloc, flood, fuzz.

The decision logic is plain code (the fuzz mutator, flood statistics, the usrloc
binding check); asyncio lives only in the runners that drive an ``Agent`` or a
UDP socket.
"""
