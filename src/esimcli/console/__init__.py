"""The operator console: the platform's Profile -> Fleet and Logs -> Profile Logs pages, live
migrations with their controls, and the devices the card hosts serve (``esimflow console``)."""
from esimcli.console.app import ConsoleSettings, create_app

__all__ = ["ConsoleSettings", "create_app"]
