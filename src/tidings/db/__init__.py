"""Storage: engine, tables, migrations and the transaction helper."""
