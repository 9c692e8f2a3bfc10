"""Guards of the web layer: who may use the app, privacy, model access."""
