"""Microsoft Graph: tokens (msal), a typed client on requests, request slots and errors.

See `client.py` for the client every Graph channel uses and `errors.py` for how Graph's
answers map onto the connector taxonomy."""
