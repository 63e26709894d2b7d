"""The journal and its read side: schema, store, migrations, the report and its chart."""
