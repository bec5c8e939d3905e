"""People and sign-in: password hashing and policy, TOTP second factor, one-time tokens, outgoing mail.

Nothing here touches the database or HTTP (``lint-imports`` holds it to that): the stores in
``persistence/identity_store.py`` and the routes in ``api/routes/auth.py`` call these functions.
"""
