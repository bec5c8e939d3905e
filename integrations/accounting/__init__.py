"""Accounting integrations: pure payload builders plus thin clients, one module pair per target."""
