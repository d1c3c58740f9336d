"""Settings, read once from ``TIDINGS_*`` environment variables and passed down.

Every setting is documented in ``docs/configuration.md``; keep the two in step.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDINGS_", extra="ignore")

    database_url: str = "sqlite:///./tidings.db"
    sqlite_mmap_mb: int = 256
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 10 * 1024 * 1024
    max_page_size: int = 500
    event_retention_days: int = 30
    operation_chunk_size: int = 500
    render_process: bool = True
    render_process_from: int = 5_000
    confirm_token_ttl_seconds: int = 300
    worker_poll_seconds: float = 0.5
    worker_lease_seconds: float = 30.0
    run_workers: bool = True
    request_threads: int | None = None
    reads_on_event_loop: bool | None = None
    cors_hosts: str | None = None
    webhook_allowed_networks: str | None = None
    secret_rotation_grace_hours: float = 24.0
    webhook_secret: str | None = None
    retry_schedule: str | None = None
    webhook_timeout_seconds: float = 15.0
    webhook_connect_timeout_seconds: float = 5.0
    webhook_disable_after_days: float = 5.0
    webhook_lag_seconds: float = 300.0
    attempt_retention_days: float = 30.0
    webhook_poll_seconds: float = 0.05
    run_dispatcher: bool = True
    console_session_hours: float = 8.0


def normalize_database_url(url: str) -> str:
    """Accept the plain ``postgresql://`` form users type and pick the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
