"""Where each eUICC is, kept in Temporal itself: card hosts announce the cards they serve, the
engine looks them up, with no file shared between hosts (docs/deploy.md)."""
