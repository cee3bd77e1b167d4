"""The REST API for activities, contacts and accounts (`/api/v1/`)."""
