"""The database itself: URLs, engines, the schema and its migrations, the roll-up
bucket arithmetic that the schema's roll-up tables follow, and the translation of
driver errors into trackboard's own. Everything else in storage/ builds on this."""
