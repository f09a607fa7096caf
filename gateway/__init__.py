"""A GraphQL and Telnyx-compatible REST gateway in front of Telnyx's messaging-profile API."""

__version__ = "0.1.0"
