"""Scenario languages understood by sipwright (SIPp XML in :mod:`.sippxml`)."""
