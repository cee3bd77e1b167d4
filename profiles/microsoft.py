"""Microsoft's public endpoints a Microsoft 365 profile starts from (no Django imports, so that
connectors and models share them)."""

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
EXCHANGE_ONLINE_RESOURCE = "https://outlook.office365.com"
EXCHANGE_ONLINE_EWS_URL = "https://outlook.office365.com/EWS/Exchange.asmx"
