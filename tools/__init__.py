"""The project's own tools: they read the source tree (tests/, docs/) and are not shipped with the portal."""
