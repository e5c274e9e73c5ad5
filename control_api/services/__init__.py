"""Use cases between HTTP (JSON resources, the web panel) and the store."""
