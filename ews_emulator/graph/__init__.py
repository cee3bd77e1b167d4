"""Microsoft Graph v1.0 and Entra ID's token endpoint, over the emulator's store."""
