"""The support agents' console: a web inbox where agents claim and complete human tasks.

Server-rendered pages served by the API process under `/console` (`console.mount.mount_console`);
the journey stays the source of truth for every task, this package shows it and forwards agents'
actions. Nothing is imported here, so the CLI's `recovery agents` loads only `console.accounts`.
"""
