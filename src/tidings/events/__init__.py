"""Events: the catalog, the outbox append inside the change's transaction, the log reader."""
